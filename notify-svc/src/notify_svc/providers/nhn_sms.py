"""NHN Cloud SMS (API v3.0): SMS and LMS as a :class:`NotifyProvider`.

From NHN Cloud's public documentation
(https://docs.nhncloud.com/en/Notification/SMS/en/api-guide/, error codes at
.../en/error-code/, webhooks at .../en/webhook/):

- Send an SMS: ``POST {base}/sms/v3.0/appKeys/{appKey}/sender/sms`` with ``X-Secret-Key``;
  body ``{body, sendNo, recipientList[{recipientNo, recipientGroupingKey}]}``. An LMS is a
  "long MMS without attachments": ``POST .../sender/mms`` with ``title`` as well.
  Limits in EUC-KR bytes: SMS body 90, MMS title 40, MMS body 2,000; "delivery fails for
  unsupported emoticons". ``sendNo`` must be registered in the console.
- Answer: ``header{isSuccessful, resultCode, resultMessage}`` and ``body.data{requestId,
  statusCode, senderGroupingKey, sendResultList[{recipientNo, resultCode, resultMessage,
  recipientSeq, recipientGroupingKey}]}``; result code ``0`` is success, ``-9999`` a system
  error.
- Status: ``GET .../sender/sms/{requestId}?recipientSeq=`` (``.../sender/mms/...`` for LMS)
  answers ``body.data{msgStatus (0 failed, 1 requesting, 2 processing, 3 success,
  4 cancelled, 5 duplicate, 6 failed (ad restriction), 7 waiting to resend), resultCode
  ("1000" delivered), resultDate, messageType}``. Listing ``GET .../sender/sms`` filters by
  ``recipientGroupingKey`` within ``startRequestDate``/``endRequestDate``.
- Webhook ``MESSAGE_RESULT_UPDATE``: header ``X-Toast-Webhook-Signature`` = "the signature
  entered when the webhook was configured"; ``hooks[{hookId, senderType, requestId,
  recipientSeq, requestDate, receiveDate, sendNo, recipientNo, messageStatus (RESERVED,
  SENDING, COMPLETED, FAILED, CANCEL, DUPLICATED, FAILED_AD, RESEND_AD), resultCode, ...}]``.

Our assumptions (configurable where it matters):

- The SMS API documents no idempotency key. The idempotency key therefore travels as
  ``recipientGroupingKey`` (hashed with SHA-256 if longer than 100 characters), and
  :meth:`NhnSmsProvider.find_sent` finds an earlier send by it; ``idempotency_header`` sends
  it as a header too (e.g. ``X-NC-API-IDEMPOTENCY-KEY``, as NHN's AlimTalk API takes) for
  accounts where NHN supports that. Off by default.
- Webhook signature: compared in constant time with the configured secret
  (``SignatureScheme.SHARED_SECRET``, what the docs describe); ``HMAC_SHA256_HEX`` if needed.
- ``senderType`` containing ``MMS`` or ``LMS`` is an LMS, otherwise an SMS.

Text that does not fit (too long, not encodable in cp949, an LMS without title) is refused
here without calling NHN: :func:`notify_svc.encoding.choose_fallback` makes text that fits.
The provider message id is ``"{requestId}:{recipientSeq}"``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx

from notify_svc.encoding import (
    LMS_MAX_BYTES,
    LMS_TITLE_MAX_BYTES,
    SMS_MAX_BYTES,
    cp949_length,
    is_cp949,
)
from notify_svc.providers._common import (
    KST,
    NHN_WEBHOOK_SIGNATURE_HEADER,
    HttpProvider,
    SignatureScheme,
    first_obj,
    nhn_hook_message_id,
    nhn_message_id,
    nhn_refusal,
    nhn_result_hooks,
    obj,
    parse_time,
    report_code,
    response_json,
    split_nhn_message_id,
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
from notify_svc.providers.nhn_alimtalk import nhn_headers, provider_key

DEFAULT_BASE_URL = "https://api-sms.cloud.toast.com"
DEFAULT_API_VERSION = "v3.0"
WEBHOOK_SIGNATURE_HEADER = NHN_WEBHOOK_SIGNATURE_HEADER

DELIVERED_CODES = frozenset({"1000"})
#: Status query ``msgStatus`` codes.
FAILED_MSG_STATUSES = frozenset({"0", "4", "5", "6"})
DONE_MSG_STATUS = "3"
#: Webhook ``messageStatus`` values.
FAILED_MESSAGE_STATUSES = frozenset({"FAILED", "CANCEL", "DUPLICATED", "FAILED_AD"})
PENDING_MESSAGE_STATUSES = frozenset({"RESERVED", "SENDING", "RESEND_AD"})

_PATHS = {Channel.SMS: "sms", Channel.LMS: "mms"}


def webhook_status(message_status: object, result_code: object) -> DeliveryStatus:
    """Our status for a webhook's ``messageStatus`` and ``resultCode``."""
    code = "" if result_code is None else str(result_code).strip()
    if message_status in FAILED_MESSAGE_STATUSES:
        return DeliveryStatus.FAILED
    if message_status in PENDING_MESSAGE_STATUSES:
        return DeliveryStatus.PENDING
    if message_status == "COMPLETED":
        return (
            DeliveryStatus.DELIVERED
            if code in DELIVERED_CODES or not code
            else (DeliveryStatus.FAILED)
        )
    return DeliveryStatus.PENDING


def query_status(msg_status: object, result_code: object) -> DeliveryStatus:
    """Our status for a status query's ``msgStatus`` and ``resultCode``."""
    status = "" if msg_status is None else str(msg_status).strip()
    code = "" if result_code is None else str(result_code).strip()
    if status in FAILED_MSG_STATUSES:
        return DeliveryStatus.FAILED
    if status == DONE_MSG_STATUS:
        return (
            DeliveryStatus.DELIVERED
            if code in DELIVERED_CODES or not code
            else (DeliveryStatus.FAILED)
        )
    return DeliveryStatus.PENDING


def _channel_of(kind: object) -> Channel:
    text = str(kind or "").upper()
    return Channel.LMS if "MMS" in text or "LMS" in text else Channel.SMS


def text_problem(message: OutboundMessage) -> str | None:
    """Why NHN would refuse or mangle ``message``'s text, or None if it fits."""
    if not is_cp949(message.text):
        return "text has characters EUC-KR/cp949 cannot carry (sanitize it first)"
    limit = SMS_MAX_BYTES if message.channel is Channel.SMS else LMS_MAX_BYTES
    if cp949_length(message.text) > limit:
        return f"text is longer than {limit} bytes"
    if not message.text.strip():
        return "text is empty"
    if message.channel is Channel.LMS:
        if not message.title or not message.title.strip():
            return "an LMS needs a title"
        if not is_cp949(message.title) or cp949_length(message.title) > LMS_TITLE_MAX_BYTES:
            return f"title must be at most {LMS_TITLE_MAX_BYTES} cp949 bytes"
    return None


class NhnSmsProvider(HttpProvider):
    """SMS and LMS through NHN Cloud SMS."""

    name = "nhn_sms"
    channels: frozenset[Channel] = frozenset({Channel.SMS, Channel.LMS})

    def __init__(
        self,
        *,
        app_key: str,
        secret_key: str,
        send_no: str,
        client: httpx.AsyncClient | None = None,
        base_url: str = DEFAULT_BASE_URL,
        api_version: str = DEFAULT_API_VERSION,
        webhook_secret: str = "",
        webhook_signature_header: str = WEBHOOK_SIGNATURE_HEADER,
        webhook_signature_scheme: SignatureScheme = SignatureScheme.SHARED_SECRET,
        idempotency_header: str | None = None,
        timeout: float | httpx.Timeout = 10.0,
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
        self._secret_key = secret_key
        self._send_no = send_no
        self._base = f"{base_url.rstrip('/')}/sms/{api_version}/appKeys/{app_key}"
        self._idempotency_header = idempotency_header
        self._lookup_window = lookup_window

    def _headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        return nhn_headers(self._secret_key, self._idempotency_header, idempotency_key)

    def _send_headers(self, idempotency_key: str) -> dict[str, str]:
        return self._headers(idempotency_key)

    def _send_url(self, message: OutboundMessage) -> str:
        return f"{self._base}/sender/{_PATHS[message.channel]}"

    def request_body(self, message: OutboundMessage) -> dict[str, Any]:
        """The documented JSON body for ``message``."""
        if message.channel not in self.channels:
            raise ProviderError("NHN Cloud SMS sends only SMS and LMS")
        body: dict[str, Any] = {}
        if message.channel is Channel.LMS:
            body["title"] = message.title
        body.update(
            {
                "body": message.text,
                "sendNo": self._send_no,
                "recipientList": [
                    {
                        "recipientNo": message.to,
                        "recipientGroupingKey": provider_key(message.idempotency_key),
                    }
                ],
            }
        )
        return body

    def local_problem(self, message: OutboundMessage) -> str | None:
        return text_problem(message)

    async def _result(self, message: OutboundMessage, response: httpx.Response) -> SendResult:
        key = message.idempotency_key
        data = response_json(response)
        if data is None:
            # no idempotency key at NHN SMS: a blind retry could duplicate
            return unreadable_answer(key, response, retryable=False)
        header = obj(data.get("header"))
        inner = obj(obj(data.get("body")).get("data"))
        first = first_obj(inner.get("sendResultList"))
        code = first.get("resultCode", header.get("resultCode"))
        text = first.get("resultMessage") or header.get("resultMessage")
        if header.get("isSuccessful") is True and code == 0:
            return SendResult(
                idempotency_key=key,
                accepted=True,
                provider_message_id=nhn_message_id(
                    inner.get("requestId"), first.get("recipientSeq")
                ),
            )
        return nhn_refusal(key, response, header, code, text)

    async def find_sent(self, idempotency_key: str, channel: Channel) -> str | None:
        """The provider message id of a recent send with this idempotency key, if any.

        Before sending again a message whose earlier attempt has an unknown outcome (the
        worker died between the send and recording it), this finds the earlier send.
        """
        now = self._clock().astimezone(KST)
        params = {
            "startRequestDate": (now - self._lookup_window).strftime("%Y-%m-%d %H:%M:%S"),
            "endRequestDate": (now + timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S"),
            "recipientGroupingKey": provider_key(idempotency_key),
            "pageSize": "1",
        }
        try:
            response = await self._get(
                f"{self._base}/sender/{_PATHS[channel]}", self._headers(), params
            )
        except httpx.TransportError:
            return None
        data = obj(response_json(response) if response.is_success else None)
        first = first_obj(obj(data.get("body")).get("data"))
        return nhn_message_id(first.get("requestId"), first.get("recipientSeq"))

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[DeliveryReport]:
        reports: list[DeliveryReport] = []
        for hook in nhn_result_hooks(self._webhook_payload(headers, body)):
            message_id = nhn_hook_message_id(hook)
            code = hook.get("resultCode")
            reports.append(
                DeliveryReport(
                    provider_message_id=message_id,
                    status=webhook_status(hook.get("messageStatus"), code),
                    channel=_channel_of(hook.get("senderType")),
                    code=report_code(code),
                    reported_at=parse_time(hook.get("receiveDate")),
                )
            )
        return reports

    async def _poll_one(self, message_id: str) -> DeliveryReport | None:
        ids = split_nhn_message_id(message_id)
        if ids is None:
            self._log.warning("nhn_sms cannot poll malformed id %s", message_id)
            return None
        request_id, seq = ids
        # The id does not say SMS or LMS; a request id exists under one of the two.
        for channel in (Channel.SMS, Channel.LMS):
            try:
                response = await self._get(
                    f"{self._base}/sender/{_PATHS[channel]}/{request_id}",
                    self._headers(),
                    {"recipientSeq": seq},
                )
            except httpx.TransportError as exc:
                self._log.warning("nhn_sms poll of %s failed: %s", message_id, type(exc).__name__)
                return None
            data = obj(response_json(response) if response.is_success else None)
            row = obj(obj(data.get("body")).get("data"))
            if obj(data.get("header")).get("isSuccessful") is True and row.get("requestId"):
                code = row.get("resultCode")
                return DeliveryReport(
                    provider_message_id=message_id,
                    status=query_status(row.get("msgStatus"), code),
                    channel=_channel_of(row.get("messageType") or _PATHS[channel]),
                    code=report_code(code),
                    reported_at=parse_time(row.get("resultDate")),
                )
        self._log.warning("nhn_sms poll of %s: not found", message_id)
        return None
