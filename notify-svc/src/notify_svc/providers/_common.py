"""What the HTTP adapters (NHN Cloud AlimTalk, NHN Cloud SMS, Solapi) share: turning transport
failures and HTTP answers into :class:`SendResult`, Retry-After, webhook signature checks,
and keeping phone numbers out of messages."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

import httpx

from notify_svc.providers.base import SendResult, WebhookSignatureError, mask_phone

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


def utc_now() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)
