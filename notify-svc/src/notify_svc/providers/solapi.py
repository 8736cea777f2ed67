"""Solapi: AlimTalk, SMS and LMS as a :class:`NotifyProvider`.

From Solapi's public documentation and its official SDK
(https://developers.solapi.com/references/messages/sendManyDetail,
https://developers.solapi.com/references/authentication/api-key; github.com/solapi/solapi-python:
``solapi/lib/authenticator.py``, ``model/request/message.py``, ``model/kakao/kakao_option.py``,
``model/response/send_message_response.py``, ``model/webhook/single_report.py``,
``lib/fetcher.py``):

- Authentication: ``Authorization: HMAC-SHA256 apiKey={key}, date={ISO 8601}, salt={random},
  signature={hex HMAC-SHA256(api secret, date + salt)}``.
- Send: ``POST https://api.solapi.com/messages/v4/send-many/detail`` with ``{messages: [{to,
  from, type (ATA = AlimTalk, SMS, LMS), text, subject, kakaoOptions{pfId, templateId,
  variables{"#{name}": value}, disableSms}, customFields{key: value (<= 100 chars)}}],
  showMessageList}``. Answer: ``{groupInfo{groupId, count{total, registeredFailed, ...}},
  failedMessageList[{to, statusCode, statusMessage, ...}], messageList[{messageId, statusCode,
  ...}]}``. Errors: 4xx with ``{errorCode, errorMessage}``.
- Status: ``GET /messages/v4/list?messageId=`` answers ``{messageList: {id: {statusCode, type,
  dateReceived, ...}}}``.
- Webhook ("single report"): a JSON list of ``{eventDataId?, data{messageId, groupId, type, to,
  from, statusCode, statusMessage, dateProcessed, dateReported, dateReceived, customFields,
  kakaoOptions}, retryCount}``.
- Status codes: ``2000`` accepted, ``3000`` handed to the carrier, ``4000`` received.

Our assumptions (configurable):

- Solapi's documentation does not say how a webhook proves its origin. We expect
  ``X-Solapi-Signature`` with the hex HMAC-SHA256 of the raw body under a secret configured on
  both sides (``SignatureScheme.HMAC_SHA256_HEX``); the header name and the scheme (or a plain
  shared secret) are constructor arguments.
- Any status code other than 2000/3000 (pending) and 4000 (delivered) is a failure.
- Solapi has no idempotency key: ours travels in ``customFields.idempotencyKey`` (and comes back
  in webhooks), so a report can be matched even if the message id was never recorded.

Bulk: :meth:`SolapiProvider.send_many` puts up to :data:`MAX_MESSAGES` messages in the one
``messages[]`` of a send-many request and matches ``messageList[]`` / ``failedMessageList[]``
back to them by ``customFields.idempotencyKey`` (which the SDKs' response models carry); when
Solapi echoes no custom field, an all-accepted answer with one entry per message is matched in
order, anything else leaves the unmatched messages to a retry (``missing_result``). Solapi has no
idempotency key, so a worker dying between a bulk send and its record repeats that batch's
messages once (as it repeats a single message today).

Our choices: Solapi's own SMS fallback is off (``disableSms: true``) because notify-svc sends the
fallback itself; AlimTalk templates are Solapi template ids, mapped from our template codes by
``template_ids``. The provider message id is Solapi's ``messageId``.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx

from notify_svc.providers._common import (
    HttpProvider,
    MalformedWebhookError,
    SignatureScheme,
    first_obj,
    http_failure,
    obj,
    parse_time,
    report_code,
    response_json,
    scrub,
    transport_failure,
    unreadable_answer,
    utc_now,
)
from notify_svc.providers.base import (
    Channel,
    DeliveryReport,
    DeliveryStatus,
    OutboundMessage,
    ProviderError,
    SendResult,
)
from notify_svc.providers.nhn_sms import text_problem

DEFAULT_BASE_URL = "https://api.solapi.com"
WEBHOOK_SIGNATURE_HEADER = "X-Solapi-Signature"
#: Messages per bulk request (our choice; well within what send-many takes).
MAX_MESSAGES = 1000
DELIVERED_CODES = frozenset({"4000"})
PENDING_CODES = frozenset({"2000", "3000"})

_TYPES = {Channel.ALIMTALK: "ATA", Channel.SMS: "SMS", Channel.LMS: "LMS"}
_CHANNELS = {value: key for key, value in _TYPES.items()}


def delivery_status(status_code: object) -> DeliveryStatus:
    """Our status for a Solapi ``statusCode``."""
    code = "" if status_code is None else str(status_code).strip()
    if code in DELIVERED_CODES:
        return DeliveryStatus.DELIVERED
    if code in PENDING_CODES or not code:
        return DeliveryStatus.PENDING
    return DeliveryStatus.FAILED


def signature(api_secret: str, date: str, salt: str) -> str:
    """Solapi's request signature: hex HMAC-SHA256 of ``date + salt``."""
    return hmac.new(api_secret.encode(), (date + salt).encode(), hashlib.sha256).hexdigest()


class SolapiProvider(HttpProvider):
    """AlimTalk, SMS and LMS through Solapi."""

    name = "solapi"
    #: Messages :meth:`send_many` takes per request.
    max_batch: int = MAX_MESSAGES
    channels: frozenset[Channel] = frozenset({Channel.ALIMTALK, Channel.SMS, Channel.LMS})

    def __init__(
        self,
        *,
        api_key: str,
        api_secret: str,
        sender: str,
        pf_id: str,
        client: httpx.AsyncClient | None = None,
        base_url: str = DEFAULT_BASE_URL,
        template_ids: Mapping[str, str] | None = None,
        webhook_secret: str = "",
        webhook_signature_header: str = WEBHOOK_SIGNATURE_HEADER,
        webhook_signature_scheme: SignatureScheme = SignatureScheme.HMAC_SHA256_HEX,
        timeout: float | httpx.Timeout = 10.0,
        provider_fallback: bool = False,
        clock: Callable[[], datetime] = utc_now,
        salt: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        super().__init__(
            client=client,
            timeout=timeout,
            clock=clock,
            webhook_secret=webhook_secret,
            webhook_signature_header=webhook_signature_header,
            webhook_signature_scheme=webhook_signature_scheme,
        )
        self._api_key = api_key
        self._api_secret = api_secret
        self._sender = sender
        self._pf_id = pf_id
        self._base = base_url.rstrip("/")
        self._template_ids = dict(template_ids or {})
        self._provider_fallback = provider_fallback
        self._salt = salt

    def authorization(self) -> str:
        """A fresh ``Authorization`` header value."""
        date = self._clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        salt = self._salt()
        return (
            f"HMAC-SHA256 apiKey={self._api_key}, date={date}, salt={salt}, "
            f"signature={signature(self._api_secret, date, salt)}"
        )

    def _headers(self) -> dict[str, str]:
        return {"Authorization": self.authorization(), "Content-Type": "application/json"}

    def _send_headers(self, idempotency_key: str) -> dict[str, str]:
        return self._headers()  # Solapi has no idempotency header (see customFields)

    def _send_url(self, message: OutboundMessage) -> str:
        return f"{self._base}/messages/v4/send-many/detail"

    async def send_many(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        """Send up to :data:`MAX_MESSAGES` messages in one request; one result per message, in
        order (failures returned, not raised)."""
        if len(messages) == 1:
            return [await self.send(messages[0])]
        if len(messages) > MAX_MESSAGES:
            raise ProviderError(f"one request carries at most {MAX_MESSAGES} messages")
        results: dict[str, SendResult] = {}
        sendable: list[OutboundMessage] = []
        for message in messages:
            problem = self.local_problem(message)
            if problem is None:
                sendable.append(message)
            else:
                results[message.idempotency_key] = SendResult(
                    message.idempotency_key, False, error_code="invalid_text", error_message=problem
                )
        if sendable:
            for message, result in zip(sendable, await self._post_many(sendable), strict=True):
                results[message.idempotency_key] = result
        return [results[m.idempotency_key] for m in messages]

    async def _post_many(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        keys = [m.idempotency_key for m in messages]
        body = {
            "messages": [self.request_body(m)["messages"][0] for m in messages],
            "showMessageList": True,
        }
        try:
            response = await self._client.post(
                self._send_url(messages[0]),
                json=body,
                headers=self._headers(),
                timeout=self._timeout,
            )
        except httpx.TransportError as exc:
            return [transport_failure(key, exc) for key in keys]
        failure = http_failure(keys[0], response, self._clock())
        data = None if failure is not None else response_json(response)
        if failure is not None or data is None or not response.is_success:
            return [
                replace(failure, idempotency_key=key)
                if failure is not None
                else await self._result(m, response)
                for key, m in zip(keys, messages, strict=True)
            ]
        return _bulk_results(keys, data)

    def request_body(self, message: OutboundMessage) -> dict[str, Any]:
        """The documented JSON body for ``message``."""
        if message.channel not in self.channels:
            raise ProviderError(f"Solapi cannot send {message.channel}")
        item: dict[str, Any] = {
            "to": message.to,
            "from": self._sender,
            "type": _TYPES[message.channel],
        }
        if message.channel is Channel.ALIMTALK:
            if not message.template_code:
                raise ProviderError("an AlimTalk message needs a template code")
            item["kakaoOptions"] = {
                "pfId": self._pf_id,
                "templateId": self._template_ids.get(message.template_code, message.template_code),
                "variables": {f"#{{{name}}}": value for name, value in message.variables.items()},
                "disableSms": not self._provider_fallback,
            }
        else:
            item["text"] = message.text
            if message.channel is Channel.LMS:
                item["subject"] = message.title
        item["customFields"] = {"idempotencyKey": message.idempotency_key[:100]}
        return {"messages": [item], "showMessageList": True}

    def local_problem(self, message: OutboundMessage) -> str | None:
        return None if message.channel is Channel.ALIMTALK else text_problem(message)

    async def _result(self, message: OutboundMessage, response: httpx.Response) -> SendResult:
        key = message.idempotency_key
        data = response_json(response)
        if data is None:
            return unreadable_answer(key, response)
        if not response.is_success:
            return SendResult(
                idempotency_key=key,
                accepted=False,
                error_code=str(data.get("errorCode") or f"http_{response.status_code}"),
                error_message=scrub(str(data.get("errorMessage") or "")) or None,
            )
        failed = first_obj(data.get("failedMessageList"))
        if failed:
            return SendResult(
                idempotency_key=key,
                accepted=False,
                error_code=str(failed.get("statusCode") or "registration_failed"),
                error_message=scrub(str(failed.get("statusMessage") or "")) or None,
            )
        first = first_obj(data.get("messageList"))
        if not first.get("messageId"):
            return SendResult(
                idempotency_key=key,
                accepted=False,
                error_code="no_message_id",
                error_message="Solapi accepted the request but named no message",
            )
        return SendResult(
            idempotency_key=key, accepted=True, provider_message_id=str(first["messageId"])
        )

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[DeliveryReport]:
        payload = self._webhook_payload(headers, body)
        events = payload if isinstance(payload, list) else [payload]
        reports: list[DeliveryReport] = []
        for event in events:
            data = event.get("data") if isinstance(event, dict) else None
            if not isinstance(data, dict) or not data.get("messageId"):
                raise MalformedWebhookError("not a Solapi single report")
            report = _report(str(data["messageId"]), data, "dateReported")
            if report is not None:
                reports.append(report)
        return reports

    async def _poll_one(self, message_id: str) -> DeliveryReport | None:
        try:
            response = await self._get(
                f"{self._base}/messages/v4/list", self._headers(), {"messageId": message_id}
            )
        except httpx.TransportError as exc:
            self._log.warning("solapi poll of %s failed: %s", message_id, type(exc).__name__)
            return None
        data = obj(response_json(response) if response.is_success else None)
        found = obj(obj(data.get("messageList")).get(message_id))
        if not found:
            self._log.warning("solapi poll of %s: HTTP %s", message_id, response.status_code)
            return None
        return _report(message_id, found)


def _echoed_key(entry: Mapping[str, Any]) -> str | None:
    key = obj(entry.get("customFields")).get("idempotencyKey")
    return str(key) if key else None


def _bulk_results(keys: Sequence[str], data: Mapping[str, Any]) -> list[SendResult]:
    """One result per key from a send-many answer (see the module doc)."""
    accepted = [obj(e) for e in data.get("messageList") or []]
    failed = [obj(e) for e in data.get("failedMessageList") or []]
    by_key = {k: ("ok", e) for e in accepted if (k := _echoed_key(e))}
    by_key.update({k: ("failed", e) for e in failed if (k := _echoed_key(e))})
    if not by_key and not failed and len(accepted) == len(keys):
        by_key = {key[:100]: ("ok", e) for key, e in zip(keys, accepted, strict=True)}
    results: list[SendResult] = []
    for key in keys:
        outcome, entry = by_key.get(key[:100], ("missing", {}))
        if outcome == "ok" and entry.get("messageId"):
            results.append(SendResult(key, True, provider_message_id=str(entry["messageId"])))
        elif outcome == "failed":
            results.append(
                SendResult(
                    key,
                    False,
                    error_code=str(entry.get("statusCode") or "registration_failed"),
                    error_message=scrub(str(entry.get("statusMessage") or "")) or None,
                )
            )
        else:
            results.append(SendResult(key, False, retryable=True, error_code="missing_result"))
    return results


def _report(
    message_id: str, data: Mapping[str, Any], fallback_date: str | None = None
) -> DeliveryReport | None:
    """The report a webhook event's or status answer's message carries (None for types we
    never send)."""
    channel = _CHANNELS.get(str(data.get("type") or "").upper())
    if channel is None:
        return None
    code = data.get("statusCode")
    received = data.get("dateReceived")
    if not received and fallback_date is not None:
        received = data.get(fallback_date)
    return DeliveryReport(
        provider_message_id=message_id,
        status=delivery_status(code),
        channel=channel,
        code=report_code(code),
        reported_at=parse_time(received),
    )
