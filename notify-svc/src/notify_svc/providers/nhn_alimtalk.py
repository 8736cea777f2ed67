"""NHN Cloud KakaoTalk Bizmessage: AlimTalk (API v2.x) as a :class:`NotifyProvider`.

From NHN Cloud's public documentation
(https://docs.nhncloud.com/en/Notification/KakaoTalk%20Bizmessage/en/alimtalk-api-guide/,
v2.1 in Korean at .../ko/alimtalk-api-guide-v2.1/; error codes at .../en/error-code/;
webhooks at .../en/webhook-api-guide/):

- Send: ``POST {base}/alimtalk/{version}/appkeys/{appkey}/messages`` with ``X-Secret-Key`` and
  the optional ``X-NC-API-IDEMPOTENCY-KEY`` ("a request with the same key within 10 minutes
  fails"); body ``senderKey``, ``templateCode`` (<= 20 characters), ``recipientList[]`` of
  ``recipientNo``, ``templateParameter`` (``#{key}`` -> value), ``resendParameter``
  (``isResend``: SMS fallback by NHN itself; on by default when configured in the console)
  and ``recipientGroupingKey`` (<= 100 characters). Answer: ``header{resultCode,
  resultMessage, isSuccessful}`` and ``message{requestId, sendResults[{recipientSeq,
  recipientNo, resultCode, resultMessage, recipientGroupingKey}]}``.
- Result codes: ``0`` success, ``-1005`` the same idempotency key within 10 minutes,
  ``-9999`` system error, others refusals (``-3003`` no such template, ``-3010`` text does
  not match the template, ``-5000`` invalid recipient number, ...).
- Status: ``GET .../messages/{requestId}/{recipientSeq}`` answers ``message{messageStatus
  (COMPLETED, FAILED, CANCEL, ...), resultCode, receiveDate, ...}``; listing
  ``GET .../messages?startRequestDate=&endRequestDate=&recipientGroupingKey=`` finds a send by
  its grouping key.
- Webhook ``MESSAGE_RESULT_UPDATE``: ``POST`` to our URL with header
  ``X-Toast-Webhook-Signature`` = "the signature entered when the webhook was configured",
  body ``{hooksId, webhookConfigId, productName, appKey, event, hooks[{kakaoMessageType,
  requestId, recipientSeq, requestDate, createDate, receiveDate, recipientNo, resultCode,
  senderGroupingKey, recipientGroupingKey, hookId}]}``.

The v2.3 guide names ``https://kakaotalk-bizmessage.api.nhncloudservice.com`` as the API domain
while its examples (and the v2.1 guide) use ``https://api-alimtalk.cloud.toast.com``, our
default; ``base_url`` selects either.

Our assumptions (not stated by the docs; all configurable):

- The webhook signature header is compared, in constant time, with the configured secret
  (``SignatureScheme.SHARED_SECRET``, what the docs describe). ``HMAC_SHA256_HEX`` (hex HMAC of
  the raw body) is available should NHN sign bodies instead.
- The receive result ``resultCode`` ``"1000"`` (Kakao's success code; ``MRC01`` in list
  filters) means delivered; any other non-empty code, or ``messageStatus`` FAILED/CANCEL,
  means failed; no code yet means pending.
- The idempotency key is sent unchanged if it is at most 100 characters, else as its SHA-256
  (hex), both as ``X-NC-API-IDEMPOTENCY-KEY`` and as ``recipientGroupingKey``.

Bulk: one request carries up to :data:`MAX_RECIPIENTS` recipients of one template
(``recipientList[]``, each with its own ``templateParameter`` and ``recipientGroupingKey``);
:meth:`NhnAlimTalkProvider.send_many` matches each ``sendResults[]`` entry to its message by the
grouping key (in list order when NHN leaves it out). The request's idempotency key is the SHA-256
of the messages' keys, so an identical batch repeated within 10 minutes is refused as a
duplicate; a message retried alone is first looked up by its grouping key
(:meth:`NhnAlimTalkProvider.find_sent`), since its single-message key differs from the batch's.

Our choices: NHN's own SMS fallback is switched off (``isResend: false``) because notify-svc
sends the fallback itself, exactly once; the provider message id is
``"{requestId}:{recipientSeq}"`` (what polls and webhooks need); after a ``-1005`` answer the
earlier send is looked up by its grouping key to recover that id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import httpx

from notify_svc.providers._common import (
    KST,
    NHN_WEBHOOK_SIGNATURE_HEADER,
    HttpProvider,
    SignatureScheme,
    first_obj,
    http_failure,
    nhn_hook_message_id,
    nhn_message_id,
    nhn_refusal,
    nhn_result_hooks,
    obj,
    parse_time,
    report_code,
    response_json,
    scrub,
    split_nhn_message_id,
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
from notify_svc.templates import KAKAO_TEMPLATE_CODES

DEFAULT_BASE_URL = "https://api-alimtalk.cloud.toast.com"
DEFAULT_API_VERSION = "v2.3"
WEBHOOK_SIGNATURE_HEADER = NHN_WEBHOOK_SIGNATURE_HEADER
IDEMPOTENCY_HEADER = "X-NC-API-IDEMPOTENCY-KEY"

#: ``header.resultCode``: the same ``X-NC-API-IDEMPOTENCY-KEY`` within 10 minutes.
DUPLICATE_IDEMPOTENCY_KEY = -1005
#: Recipients per send request (NHN's documented limit of ``recipientList``).
MAX_RECIPIENTS = 1000
#: Receive result codes that mean the message reached the phone.
DELIVERED_CODES = frozenset({"1000", "MRC01"})
FAILED_MESSAGE_STATUSES = frozenset({"FAILED", "CANCEL"})


def provider_key(idempotency_key: str) -> str:
    """The idempotency key as NHN receives it (<= 100 characters)."""
    if len(idempotency_key) <= 100:
        return idempotency_key
    return hashlib.sha256(idempotency_key.encode()).hexdigest()


def nhn_headers(
    secret_key: str, idempotency_header: str | None, idempotency_key: str | None = None
) -> dict[str, str]:
    """The headers of an NHN Cloud request (the idempotency key only if both are given)."""
    headers = {
        "Content-Type": "application/json;charset=UTF-8",
        "X-Secret-Key": secret_key,
    }
    if idempotency_key is not None and idempotency_header:
        headers[idempotency_header] = provider_key(idempotency_key)
    return headers


def delivery_status(result_code: object, message_status: object = None) -> DeliveryStatus:
    """Our status for a receive ``resultCode`` and (from status queries) ``messageStatus``."""
    code = "" if result_code is None else str(result_code).strip()
    if code in DELIVERED_CODES:
        return DeliveryStatus.DELIVERED
    if message_status in FAILED_MESSAGE_STATUSES:
        return DeliveryStatus.FAILED
    if code and message_status in (None, "COMPLETED"):
        return DeliveryStatus.FAILED
    return DeliveryStatus.PENDING


class NhnAlimTalkProvider(HttpProvider):
    """AlimTalk through NHN Cloud KakaoTalk Bizmessage."""

    name = "nhn_alimtalk"
    channels: frozenset[Channel] = frozenset({Channel.ALIMTALK})
    #: Recipients :meth:`send_many` takes per request.
    max_batch: int = MAX_RECIPIENTS

    def __init__(
        self,
        *,
        app_key: str,
        secret_key: str,
        sender_key: str,
        client: httpx.AsyncClient | None = None,
        base_url: str = DEFAULT_BASE_URL,
        api_version: str = DEFAULT_API_VERSION,
        webhook_secret: str = "",
        webhook_signature_header: str = WEBHOOK_SIGNATURE_HEADER,
        webhook_signature_scheme: SignatureScheme = SignatureScheme.SHARED_SECRET,
        template_codes: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout = 10.0,
        provider_fallback: bool = False,
        clock: Callable[[], datetime] = utc_now,
        lookup_window: timedelta = timedelta(minutes=15),
    ) -> None:
        super().__init__(
            client=client,
            timeout=timeout,
            clock=clock,
            webhook_secret=webhook_secret,
            webhook_signature_header=webhook_signature_header,
            webhook_signature_scheme=webhook_signature_scheme,
        )
        self._app_key = app_key
        self._secret_key = secret_key
        self._sender_key = sender_key
        self._base = f"{base_url.rstrip('/')}/alimtalk/{api_version}/appkeys/{app_key}"
        self._template_codes = dict(
            KAKAO_TEMPLATE_CODES if template_codes is None else template_codes
        )
        self._provider_fallback = provider_fallback
        self._lookup_window = lookup_window

    def _headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        return nhn_headers(self._secret_key, IDEMPOTENCY_HEADER, idempotency_key)

    def _send_headers(self, idempotency_key: str) -> dict[str, str]:
        return self._headers(idempotency_key)

    def _send_url(self, message: OutboundMessage) -> str:
        return f"{self._base}/messages"

    def request_body(self, message: OutboundMessage) -> dict[str, Any]:
        """The documented JSON body for ``message``."""
        if message.channel is not Channel.ALIMTALK or not message.template_code:
            raise ProviderError("NHN AlimTalk sends only AlimTalk messages with a template code")
        return {
            "senderKey": self._sender_key,
            "templateCode": self._template_codes.get(message.template_code, message.template_code),
            "recipientList": [
                {
                    "recipientNo": message.to,
                    "templateParameter": dict(message.variables),
                    "resendParameter": {"isResend": self._provider_fallback},
                    "recipientGroupingKey": provider_key(message.idempotency_key),
                }
            ],
        }

    async def send_many(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        """Send messages of one template in one request (at most :data:`MAX_RECIPIENTS`);
        one result per message, in order. Failures are returned, not raised."""
        if len(messages) == 1:
            return [await self.send(messages[0])]
        if len(messages) > MAX_RECIPIENTS or len({m.template_code for m in messages}) != 1:
            raise ProviderError(f"one request carries 1-{MAX_RECIPIENTS} of one template")
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
        self._log.info(
            "nhn_alimtalk bulk of %d: %d accepted",
            len(messages),
            sum(r.accepted for r in results.values()),
        )
        return [results[m.idempotency_key] for m in messages]

    async def _post_many(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        body = self.request_body(messages[0])
        body["recipientList"] = [self.request_body(m)["recipientList"][0] for m in messages]
        batch_key = hashlib.sha256(
            "\n".join(sorted(m.idempotency_key for m in messages)).encode()
        ).hexdigest()
        keys = [m.idempotency_key for m in messages]
        try:
            response = await self._client.post(
                f"{self._base}/messages",
                json=body,
                headers=self._headers(batch_key),
                timeout=self._timeout,
            )
        except httpx.TransportError as exc:
            return [transport_failure(key, exc) for key in keys]
        failure = http_failure(batch_key, response, self._clock())
        data = None if failure is not None else response_json(response)
        if failure is not None or data is None:
            one = failure or unreadable_answer(batch_key, response, retryable=response.is_success)
            return [replace(one, idempotency_key=key) for key in keys]
        header = obj(data.get("header"))
        if header.get("resultCode") == DUPLICATE_IDEMPOTENCY_KEY:
            return [await self._already_accepted(key, header.get("resultMessage")) for key in keys]
        if header.get("isSuccessful") is not True:
            code, text = header.get("resultCode"), header.get("resultMessage")
            return [nhn_refusal(key, response, header, code, text) for key in keys]
        message = obj(data.get("message"))
        entries = [obj(e) for e in message.get("sendResults") or []]
        by_key = {
            e.get("recipientGroupingKey"): e for e in entries if e.get("recipientGroupingKey")
        }
        results: list[SendResult] = []
        for index, key in enumerate(keys):
            entry = by_key.get(provider_key(key)) or (
                entries[index] if not by_key and index < len(entries) else {}
            )
            results.append(self._recipient_result(key, response, header, message, entry))
        return results

    @staticmethod
    def _recipient_result(
        key: str,
        response: httpx.Response,
        header: Mapping[str, Any],
        message: Mapping[str, Any],
        entry: Mapping[str, Any],
    ) -> SendResult:
        if not entry:
            # Accepted as a request, but nothing said of this recipient: it may have gone out.
            return SendResult(key, False, retryable=True, error_code="missing_result")
        code = entry.get("resultCode")
        if code == 0:
            return SendResult(
                key,
                accepted=True,
                provider_message_id=nhn_message_id(
                    message.get("requestId"), entry.get("recipientSeq")
                ),
            )
        return nhn_refusal(key, response, header, code, entry.get("resultMessage"))

    async def _already_accepted(self, key: str, text: object) -> SendResult:
        return SendResult(
            idempotency_key=key,
            accepted=True,
            already_accepted=True,
            provider_message_id=await self.find_sent(key),
            error_code=str(DUPLICATE_IDEMPOTENCY_KEY),
            error_message=scrub(str(text)) if text else None,
        )

    async def _result(self, message: OutboundMessage, response: httpx.Response) -> SendResult:
        key = message.idempotency_key
        data = response_json(response)
        if data is None:
            # a 2xx we cannot read: the key makes a retry safe
            return unreadable_answer(key, response, retryable=response.is_success)
        header = obj(data.get("header"))
        body = obj(data.get("message"))
        first = first_obj(body.get("sendResults"))
        code = first.get("resultCode", header.get("resultCode"))
        text = first.get("resultMessage") or header.get("resultMessage")
        if header.get("isSuccessful") is True and code == 0:
            return SendResult(
                idempotency_key=key,
                accepted=True,
                provider_message_id=nhn_message_id(
                    body.get("requestId"), first.get("recipientSeq")
                ),
            )
        if DUPLICATE_IDEMPOTENCY_KEY in (header.get("resultCode"), code):
            return SendResult(
                idempotency_key=key,
                accepted=True,
                already_accepted=True,
                provider_message_id=await self.find_sent(key),
                error_code=str(DUPLICATE_IDEMPOTENCY_KEY),
                error_message=scrub(str(text)) if text else None,
            )
        return nhn_refusal(key, response, header, code, text)

    async def find_sent(self, idempotency_key: str) -> str | None:
        """The provider message id of a recent send with this idempotency key, if NHN has one.

        Looks in the last ``lookup_window`` (15 minutes by default) by recipient grouping key.
        """
        now = self._clock().astimezone(KST)
        params = {
            "startRequestDate": (now - self._lookup_window).strftime("%Y-%m-%d %H:%M"),
            "endRequestDate": (now + timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M"),
            "recipientGroupingKey": provider_key(idempotency_key),
            "pageSize": "1",
        }
        try:
            response = await self._get(f"{self._base}/messages", self._headers(), params)
        except httpx.TransportError:
            return None
        data = obj(response_json(response) if response.is_success else None)
        first = first_obj(obj(data.get("messageSearchResultResponse")).get("messages"))
        return nhn_message_id(first.get("requestId"), first.get("recipientSeq"))

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[DeliveryReport]:
        reports: list[DeliveryReport] = []
        for hook in nhn_result_hooks(self._webhook_payload(headers, body)):
            kind = str(hook.get("kakaoMessageType") or "ALIMTALK")
            if not kind.startswith("ALIMTALK"):
                continue
            message_id = nhn_hook_message_id(hook)
            code = hook.get("resultCode")
            reports.append(
                DeliveryReport(
                    provider_message_id=message_id,
                    status=delivery_status(code),
                    channel=Channel.ALIMTALK,
                    code=report_code(code),
                    reported_at=parse_time(hook.get("receiveDate")),
                )
            )
        return reports

    async def _poll_one(self, message_id: str) -> DeliveryReport | None:
        ids = split_nhn_message_id(message_id)
        if ids is None:
            self._log.warning("nhn_alimtalk cannot poll malformed id %s", message_id)
            return None
        request_id, seq = ids
        try:
            response = await self._get(f"{self._base}/messages/{request_id}/{seq}", self._headers())
        except httpx.TransportError as exc:
            self._log.warning("nhn_alimtalk poll of %s failed: %s", message_id, type(exc).__name__)
            return None
        data = obj(response_json(response) if response.is_success else None)
        message = obj(data.get("message"))
        header = obj(data.get("header"))
        if not message:
            self._log.warning("nhn_alimtalk poll of %s: HTTP %s", message_id, response.status_code)
            return None
        if header.get("isSuccessful") is not True:
            self._log.warning(
                "nhn_alimtalk poll of %s: code %s", message_id, header.get("resultCode")
            )
            return None
        code = message.get("resultCode")
        return DeliveryReport(
            provider_message_id=message_id,
            status=delivery_status(code, message.get("messageStatus")),
            channel=Channel.ALIMTALK,
            code=report_code(code),
            reported_at=parse_time(message.get("receiveDate")),
        )
