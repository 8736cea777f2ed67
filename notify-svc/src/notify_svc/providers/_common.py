"""What the HTTP adapters (NHN Cloud AlimTalk, NHN Cloud SMS, Solapi) share: turning transport
failures and HTTP answers into :class:`SendResult`, Retry-After, webhook signature checks,
and keeping phone numbers out of messages."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

import httpx

from notify_svc.providers.base import (
    Channel,
    DeliveryReport,
    OutboundMessage,
    SendResult,
    WebhookSignatureError,
    mask_phone,
)
from services.clock import SystemClock

KST = timezone(timedelta(hours=9), "KST")

# Korean mobile and landline numbers as they may appear in a provider's message
# (01012345678, 010-1234-5678, 821012345678, +82 10 1234 5678).
_PHONE = re.compile(r"(?<!\d)(?:\+?82[- ]?|0)1[016789][- ]?\d{3,4}[- ]?\d{4}(?!\d)")


class SignatureScheme(StrEnum):
    """How a webhook proves it comes from the provider."""

    #: The header carries a secret string configured at the provider (NHN Cloud's
    #: ``X-Toast-Webhook-Signature``: "the signature entered when setting the webhook").
    SHARED_SECRET = "shared-secret"
    #: The header carries hex HMAC-SHA256 of the raw body under the secret.
    HMAC_SHA256_HEX = "hmac-sha256-hex"


class MalformedWebhookError(ValueError):
    """A webhook with a valid signature whose body is not what the provider documents."""


def scrub(text: str | None) -> str | None:
    """``text`` with every phone number masked (provider messages may echo the recipient)."""
    if text is None:
        return None
    return _PHONE.sub(lambda match: mask_phone(match.group(0)), text)


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Header ``name`` looked up case-insensitively (plain dicts and Starlette headers)."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def verify_signature(
    headers: Mapping[str, str],
    body: bytes,
    *,
    header_name: str,
    secret: str,
    scheme: SignatureScheme,
) -> None:
    """Raise :class:`WebhookSignatureError` unless ``headers[header_name]`` proves ``body``."""
    if not secret:
        raise WebhookSignatureError("no webhook secret is configured for this provider")
    presented = header(headers, header_name)
    if not presented:
        raise WebhookSignatureError(f"missing {header_name}")
    if scheme is SignatureScheme.SHARED_SECRET:
        expected = secret
    else:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        presented = presented.strip().lower().removeprefix("sha256=")
    if not hmac.compare_digest(presented.strip().encode(), expected.encode()):
        raise WebhookSignatureError(f"{header_name} does not match")


def load_json(body: bytes) -> Any:
    """The JSON of a webhook body (raises :class:`MalformedWebhookError`)."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedWebhookError("webhook body is not JSON") from exc


def obj(value: object) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (for lenient reading of answers)."""
    return value if isinstance(value, dict) else {}


def first_obj(value: object) -> dict[str, Any]:
    """The first element of a JSON array if it is an object, else an empty object."""
    return obj(value[0]) if isinstance(value, list) and value else {}


def response_json(response: httpx.Response) -> dict[str, Any] | None:
    """The JSON object a response carries, or None."""
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def retry_after(response: httpx.Response, now: datetime) -> float | None:
    """Seconds the Retry-After header asks for (delta-seconds or an HTTP date), if any."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def transport_failure(idempotency_key: str, exc: httpx.HTTPError) -> SendResult:
    """A timeout or connection error: not known to have arrived, safe to retry."""
    code = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection_error"
    return SendResult(
        idempotency_key=idempotency_key,
        accepted=False,
        retryable=True,
        error_code=code,
        error_message=type(exc).__name__,
    )


def http_failure(
    idempotency_key: str, response: httpx.Response, now: datetime
) -> SendResult | None:
    """The result for a 408, 429 or 5xx answer (retryable), None for any other status."""
    status = response.status_code
    if status in (408, 425, 429) or status >= 500:
        return SendResult(
            idempotency_key=idempotency_key,
            accepted=False,
            retryable=True,
            retry_after=retry_after(response, now),
            error_code=f"http_{status}",
            error_message=scrub(response.reason_phrase),
        )
    return None


def parse_time(value: object) -> datetime | None:
    """A provider's timestamp as an aware datetime (naive ones are taken as KST), or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    for candidate in (text, text.replace(" ", "T", 1)):
        try:
            parsed = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=KST)
    for pattern in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=KST)
        except ValueError:
            continue
    return None


#: The adapters' clock unless they are given the service's (``registry.build_providers``).
utc_now: Callable[[], datetime] = SystemClock().now


def unreadable_answer(
    idempotency_key: str, response: httpx.Response, *, retryable: bool = False
) -> SendResult:
    """The result for an answer whose body is not a JSON object."""
    return SendResult(
        idempotency_key=idempotency_key,
        accepted=False,
        retryable=retryable,
        error_code=f"http_{response.status_code}",
        error_message="unreadable answer",
    )


def report_code(code: object) -> str | None:
    """A provider's result code as a report carries it."""
    return None if code is None else str(code)


# NHN Cloud (AlimTalk and SMS) share their answer envelope, message ids and webhook shape.

NHN_WEBHOOK_SIGNATURE_HEADER = "X-Toast-Webhook-Signature"
#: NHN's "system error": worth trying again.
NHN_RETRYABLE_CODES = frozenset({-9999})


def nhn_message_id(request_id: object, recipient_seq: object) -> str | None:
    """Our provider message id for an NHN send: ``"{requestId}:{recipientSeq}"``."""
    if not request_id or recipient_seq is None or recipient_seq == "":
        return None
    return f"{request_id}:{recipient_seq}"


def split_nhn_message_id(message_id: str) -> tuple[str, str] | None:
    """``(requestId, recipientSeq)`` of an id made by :func:`nhn_message_id`, or None."""
    request_id, _, seq = message_id.rpartition(":")
    if not request_id or not seq.isdigit():
        return None
    return request_id, seq


def nhn_refusal(
    idempotency_key: str,
    response: httpx.Response,
    header: Mapping[str, Any],
    code: object,
    text: object,
) -> SendResult:
    """The result for an NHN answer that did not accept the message."""
    if code is None:
        code = f"http_{response.status_code}"
    return SendResult(
        idempotency_key=idempotency_key,
        accepted=False,
        retryable=code in NHN_RETRYABLE_CODES or header.get("resultCode") in NHN_RETRYABLE_CODES,
        error_code=str(code),
        error_message=scrub(str(text)) if text else None,
    )


def nhn_result_hooks(payload: object) -> list[dict[str, Any]]:
    """The hooks of an NHN Cloud ``MESSAGE_RESULT_UPDATE`` webhook (none for other events)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("hooks", []), list):
        raise MalformedWebhookError("not an NHN Cloud webhook")
    if payload.get("event") != "MESSAGE_RESULT_UPDATE":
        return []  # opt-outs, template reviews and the like carry no delivery results
    hooks: list[dict[str, Any]] = []
    for hook in payload.get("hooks", []):
        if not isinstance(hook, dict):
            raise MalformedWebhookError("a hook is not an object")
        hooks.append(hook)
    return hooks


def nhn_hook_message_id(hook: Mapping[str, Any]) -> str:
    """The provider message id a webhook hook reports on."""
    message_id = nhn_message_id(hook.get("requestId"), hook.get("recipientSeq"))
    if message_id is None:
        raise MalformedWebhookError("a hook has no requestId/recipientSeq")
    return message_id


class HttpProvider(ABC):
    """What the HTTP adapters share: the HTTP client (closed only if made here), the webhook
    signature check, and the send and poll plumbing around the provider-specific shapes.

    Subclasses set ``name`` and ``channels`` and implement :meth:`request_body`,
    :meth:`_send_url`, :meth:`_send_headers`, :meth:`_result` and :meth:`_poll_one`.
    """

    name: str
    channels: frozenset[Channel]

    def __init__(
        self,
        *,
        client: httpx.AsyncClient | None,
        timeout: float | httpx.Timeout,
        clock: Callable[[], datetime],
        webhook_secret: str,
        webhook_signature_header: str,
        webhook_signature_scheme: SignatureScheme,
    ) -> None:
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient()
        self._timeout = timeout
        self._clock = clock
        self._webhook_secret = webhook_secret
        self._webhook_header = webhook_signature_header
        self._webhook_scheme = SignatureScheme(webhook_signature_scheme)
        self._log = logging.getLogger(type(self).__module__)

    async def aclose(self) -> None:
        """Close the HTTP client if this provider made it."""
        if self._owns_client:
            await self._client.aclose()

    @abstractmethod
    def request_body(self, message: OutboundMessage) -> dict[str, Any]:
        """The documented JSON body for ``message``."""

    @abstractmethod
    def _send_url(self, message: OutboundMessage) -> str: ...

    @abstractmethod
    def _send_headers(self, idempotency_key: str) -> dict[str, str]: ...

    @abstractmethod
    async def _result(self, message: OutboundMessage, response: httpx.Response) -> SendResult:
        """The result of an answer that is not a retryable HTTP failure (checked before)."""

    @abstractmethod
    async def _poll_one(self, message_id: str) -> DeliveryReport | None: ...

    def local_problem(self, message: OutboundMessage) -> str | None:
        """Why the provider would refuse or mangle ``message``, checked before sending."""
        return None

    async def _get(
        self, url: str, headers: Mapping[str, str], params: Mapping[str, str] | None = None
    ) -> httpx.Response:
        return await self._client.get(url, params=params, headers=headers, timeout=self._timeout)

    async def send(self, message: OutboundMessage) -> SendResult:
        key = message.idempotency_key
        body = self.request_body(message)
        problem = self.local_problem(message)
        if problem is not None:
            self._log.warning(
                "%s refused locally: %s", self.name, problem, extra={"idempotency_key": key}
            )
            return SendResult(
                idempotency_key=key,
                accepted=False,
                error_code="invalid_text",
                error_message=problem,
            )
        try:
            response = await self._client.post(
                self._send_url(message),
                json=body,
                headers=self._send_headers(key),
                timeout=self._timeout,
            )
        except httpx.TransportError as exc:
            self._log.warning(
                "%s send to %s failed in transport: %s",
                self.name,
                mask_phone(message.to),
                type(exc).__name__,
                extra={"idempotency_key": key},
            )
            return transport_failure(key, exc)
        result = http_failure(key, response, self._clock())
        if result is None:
            result = await self._result(message, response)
        self._log.info(
            "%s %s to %s: accepted=%s code=%s",
            self.name,
            message.channel.value,
            mask_phone(message.to),
            result.accepted,
            result.error_code,
            extra={"idempotency_key": key, "provider_message_id": result.provider_message_id},
        )
        return result

    def _webhook_payload(self, headers: Mapping[str, str], body: bytes) -> Any:
        """The JSON of a webhook whose signature checks out."""
        verify_signature(
            headers,
            body,
            header_name=self._webhook_header,
            secret=self._webhook_secret,
            scheme=self._webhook_scheme,
        )
        return load_json(body)

    async def poll(self, provider_message_ids: Sequence[str]) -> list[DeliveryReport]:
        reports: list[DeliveryReport] = []
        for message_id in provider_message_ids:
            report = await self._poll_one(message_id)
            if report is not None:
                reports.append(report)
        return reports
