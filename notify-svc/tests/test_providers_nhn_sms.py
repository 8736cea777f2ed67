"""NHN Cloud SMS v3.0 adapter against NHN's documented HTTP contract, simulated with
httpx.MockTransport (NHN Cloud cannot be reached from tests)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from provider_fixtures import NOW, PHONE, FakeApi, fake_api, nhn_refusal, nhn_webhook_body

from notify_svc.encoding import choose_fallback
from notify_svc.providers._common import MalformedWebhookError
from notify_svc.providers.base import (
    Channel,
    DeliveryStatus,
    OutboundMessage,
    ProviderError,
    WebhookSignatureError,
)
from notify_svc.providers.nhn_sms import NhnSmsProvider
from notify_svc.templates import render

APP_KEY = "SmsAppKeyFromConsole"
SECRET_KEY = "SmsSecretKeyFromConsole"
SEND_NO = "15446859"
WEBHOOK_SECRET = "sms-webhook-signature"
BASE = f"https://api-sms.cloud.toast.com/sms/v3.0/appKeys/{APP_KEY}"
KEY = "proposal.answered:77aa:citizen-42:sms"


@pytest.fixture
async def nhn() -> AsyncIterator[tuple[FakeApi, NhnSmsProvider]]:
    async with fake_api() as (fake, client):
        yield (
            fake,
            NhnSmsProvider(
                app_key=APP_KEY,
                secret_key=SECRET_KEY,
                send_no=SEND_NO,
                client=client,
                webhook_secret=WEBHOOK_SECRET,
                clock=lambda: NOW,
            ),
        )


def sms_message(
    text: str = "[시민참여] 제안 '그늘막'에 교통정책과 답변이 등록되었습니다.",
) -> OutboundMessage:
    return OutboundMessage(idempotency_key=KEY, to=PHONE, channel=Channel.SMS, text=text)


def lms_message() -> OutboundMessage:
    rendered = render(
        "PROPOSAL_ANSWERED",
        {"제안제목": "성수동 보행로에 그늘막을 설치해 주세요", "답변주체": "도시공간정책과"},
    )
    channel, body, title = choose_fallback(rendered.text, rendered.lms_title)
    assert channel is Channel.LMS
    return OutboundMessage(
        idempotency_key=KEY, to=PHONE, channel=Channel.LMS, text=body, title=title
    )


def documented_success(request_id: str = "20180810100630ReZQ6KZzAH0") -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "header": {"isSuccessful": True, "resultCode": 0, "resultMessage": "SUCCESS"},
            "body": {
                "data": {
                    "requestId": request_id,
                    "statusCode": "2",
                    "senderGroupingKey": None,
                    "sendResultList": [
                        {
                            "recipientNo": PHONE,
                            "resultCode": 0,
                            "resultMessage": "SUCCESS",
                            "recipientSeq": 1,
                            "recipientGroupingKey": KEY,
                        }
                    ],
                }
            },
        },
    )


def refusal(code: int, message: str) -> httpx.Response:
    return nhn_refusal(code, message, body=None)


async def test_nhn_sms_send_matches_documented_request_shape_mock_transport(
    nhn: tuple[FakeApi, NhnSmsProvider],
) -> None:
    fake, provider = nhn
    fake.answers.append(documented_success())
    message = sms_message()

    result = await provider.send(message)

    (request,) = fake.requests
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/sender/sms"
    assert request.headers["X-Secret-Key"] == SECRET_KEY
    assert request.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert "X-NC-API-IDEMPOTENCY-KEY" not in request.headers  # not in the SMS API's docs
    assert json.loads(request.content) == {
        "body": message.text,
        "sendNo": SEND_NO,
        "recipientList": [{"recipientNo": PHONE, "recipientGroupingKey": KEY}],
    }
    assert (result.accepted, result.provider_message_id) == (True, "20180810100630ReZQ6KZzAH0:1")


async def test_nhn_sms_lms_goes_to_documented_mms_endpoint_with_title_mock_transport(
    nhn: tuple[FakeApi, NhnSmsProvider],
) -> None:
    fake, provider = nhn
    fake.answers.append(documented_success("20180810100630LmsRequest0"))
    message = lms_message()

    result = await provider.send(message)

    (request,) = fake.requests
    assert str(request.url) == f"{BASE}/sender/mms"
    assert json.loads(request.content) == {
        "title": "[시민참여] 제안 답변 등록",
        "body": message.text,
        "sendNo": SEND_NO,
        "recipientList": [{"recipientNo": PHONE, "recipientGroupingKey": KEY}],
    }
    assert result.provider_message_id == "20180810100630LmsRequest0:1"


async def test_nhn_sms_optional_idempotency_header_mock_transport() -> None:
    fake = FakeApi([documented_success()])
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handle)) as client:
        provider = NhnSmsProvider(
            app_key=APP_KEY,
            secret_key=SECRET_KEY,
            send_no=SEND_NO,
            client=client,
            idempotency_header="X-NC-API-IDEMPOTENCY-KEY",
        )
        await provider.send(sms_message())
    assert fake.requests[0].headers["X-NC-API-IDEMPOTENCY-KEY"] == KEY


async def test_nhn_sms_refusal_is_final_with_provider_code_mock_transport(
    nhn: tuple[FakeApi, NhnSmsProvider],
) -> None:
    fake, provider = nhn
    fake.answers.append(refusal(-1000, "Invalid appKey."))
    answer = documented_success().json()
    answer["header"].update(isSuccessful=False, resultCode=-2021, resultMessage="fail")
    answer["body"]["data"]["sendResultList"][0].update(
        resultCode=-2021, resultMessage=f"Invalid recipient number {PHONE}"
    )
    fake.answers.append(httpx.Response(200, json=answer))

    app_key_refused = await provider.send(sms_message())
    recipient_refused = await provider.send(sms_message())

    assert (app_key_refused.accepted, app_key_refused.retryable) == (False, False)
    assert app_key_refused.error_code == "-1000"
    assert (recipient_refused.error_code, recipient_refused.retryable) == ("-2021", False)
    assert recipient_refused.error_message == "Invalid recipient number 010-****-5678"


async def test_nhn_sms_429_500_and_system_error_are_retryable_mock_transport(
    nhn: tuple[FakeApi, NhnSmsProvider],
) -> None:
    fake, provider = nhn
    fake.answers += [
        httpx.Response(429, headers={"Retry-After": "2.5"}),
        httpx.Response(502),
        refusal(-9999, "System error."),
    ]

    limited, bad_gateway, system_error = [await provider.send(sms_message()) for _ in range(3)]

    assert (limited.retryable, limited.retry_after, limited.error_code) == (True, 2.5, "http_429")
    assert (bad_gateway.retryable, bad_gateway.error_code) == (True, "http_502")
    assert (system_error.retryable, system_error.error_code) == (True, "-9999")
    assert not any(r.accepted for r in (limited, bad_gateway, system_error))


async def test_nhn_sms_timeout_is_retryable_mock_transport(
    nhn: tuple[FakeApi, NhnSmsProvider],
) -> None:
    fake, provider = nhn
    fake.answers.append(httpx.WriteTimeout("timed out"))

    result = await provider.send(sms_message())

    assert (result.accepted, result.retryable, result.error_code) == (False, True, "timeout")


@pytest.mark.parametrize(
    ("channel", "text", "title", "problem"),
    [
        (Channel.SMS, "안녕하세요 🙂", None, "cp949"),
        (Channel.SMS, "가" * 46, None, "90 bytes"),
        (Channel.LMS, "가" * 1001, "제목", "2000 bytes"),
        (Channel.LMS, "본문", None, "title"),
        (Channel.LMS, "본문", "가" * 21, "title"),
    ],
)
async def test_nhn_sms_refuses_text_that_does_not_fit_without_calling_nhn(
    nhn: tuple[FakeApi, NhnSmsProvider],
    channel: Channel,
    text: str,
    title: str | None,
    problem: str,
) -> None:
    fake, provider = nhn
    message = OutboundMessage(
        idempotency_key=KEY, to=PHONE, channel=channel, text=text, title=title
    )

    result = await provider.send(message)

    assert fake.requests == []
    assert (result.accepted, result.retryable, result.error_code) == (False, False, "invalid_text")
    assert problem in (result.error_message or "")


async def test_nhn_sms_refuses_alimtalk(nhn: tuple[FakeApi, NhnSmsProvider]) -> None:
    _, provider = nhn
    alimtalk = OutboundMessage(
        idempotency_key=KEY, to=PHONE, channel=Channel.ALIMTALK, text="x", template_code="T"
    )
    with pytest.raises(ProviderError):
        await provider.send(alimtalk)


async def test_nhn_sms_find_sent_uses_documented_list_filter_mock_transport(
    nhn: tuple[FakeApi, NhnSmsProvider],
) -> None:
    fake, provider = nhn
    fake.answers.append(
        httpx.Response(
            200,
            json={
                "header": {"resultCode": 0, "resultMessage": "SUCCESS", "isSuccessful": True},
                "body": {
                    "pageNum": 1,
                    "pageSize": 1,
                    "totalCount": 1,
                    "data": [
                        {
                            "requestId": "20180810100630ReZQ6KZzAH0",
                            "recipientSeq": 1,
                            "msgStatus": "3",
                            "resultCode": "1000",
                            "recipientGroupingKey": KEY,
                        }
                    ],
                },
            },
        )
    )
    fake.answers.append(
        httpx.Response(
            200,
            json={
                "header": {"resultCode": 0, "resultMessage": "SUCCESS", "isSuccessful": True},
                "body": {"pageNum": 1, "pageSize": 1, "totalCount": 0, "data": []},
            },
        )
    )

    found = await provider.find_sent(KEY, Channel.SMS)
    missing = await provider.find_sent(KEY, Channel.LMS)

    assert (found, missing) == ("20180810100630ReZQ6KZzAH0:1", None)
    first, second = fake.requests
    assert (first.method, first.url.path) == ("GET", f"/sms/v3.0/appKeys/{APP_KEY}/sender/sms")
    assert second.url.path == f"/sms/v3.0/appKeys/{APP_KEY}/sender/mms"
    assert parse_qs(urlsplit(str(first.url)).query) == {
        "startRequestDate": ["2025-07-01 11:45:00"],
        "endRequestDate": ["2025-07-01 12:01:00"],
        "recipientGroupingKey": [KEY],
        "pageSize": ["1"],
    }


def webhook_body(*hooks: dict[str, Any], event: str = "MESSAGE_RESULT_UPDATE") -> bytes:
    return nhn_webhook_body(APP_KEY, "SMS", *hooks, event=event)


def hook(
    seq: int, status: str, result_code: str, sender_type: str = "NORMAL_SMS"
) -> dict[str, Any]:
    return {
        "hookId": f"20240429205809GcSUXthVA0{seq}",
        "senderType": sender_type,
        "requestId": "20240429205802y0Tl7Gbz0e0",
        "recipientSeq": seq,
        "requestDate": "2024-04-29T20:58:02",
        "receiveDate": "2024-04-29T20:58:04",
        "sendNo": SEND_NO,
        "recipientNo": PHONE,
        "messageStatus": status,
        "recipientGroupingKey": KEY,
        "senderGroupingKey": None,
        "resultCode": result_code,
    }


async def test_nhn_sms_webhook_with_valid_signature_gives_reports_mock_transport(
    nhn: tuple[FakeApi, NhnSmsProvider],
) -> None:
    _, provider = nhn
    body = webhook_body(
        hook(1, "COMPLETED", "1000"),
        hook(2, "FAILED", "3015"),
        hook(3, "SENDING", ""),
        hook(4, "COMPLETED", "1000", "NORMAL_MMS"),
        hook(5, "DUPLICATED", "0"),
    )

    reports = provider.parse_webhook({"X-Toast-Webhook-Signature": WEBHOOK_SECRET}, body)

    assert [(r.provider_message_id, r.status, r.channel) for r in reports] == [
        ("20240429205802y0Tl7Gbz0e0:1", DeliveryStatus.DELIVERED, Channel.SMS),
        ("20240429205802y0Tl7Gbz0e0:2", DeliveryStatus.FAILED, Channel.SMS),
        ("20240429205802y0Tl7Gbz0e0:3", DeliveryStatus.PENDING, Channel.SMS),
        ("20240429205802y0Tl7Gbz0e0:4", DeliveryStatus.DELIVERED, Channel.LMS),
        ("20240429205802y0Tl7Gbz0e0:5", DeliveryStatus.FAILED, Channel.SMS),
    ]
    assert reports[0].reported_at == datetime(2024, 4, 29, 11, 58, 4, tzinfo=UTC)
    assert reports[1].code == "3015"


async def test_nhn_sms_webhook_forged_signature_and_other_events(
    nhn: tuple[FakeApi, NhnSmsProvider],
) -> None:
    _, provider = nhn
    body = webhook_body(hook(1, "COMPLETED", "1000"))
    with pytest.raises(WebhookSignatureError):
        provider.parse_webhook({"X-Toast-Webhook-Signature": "guess"}, body)
    with pytest.raises(WebhookSignatureError):
        provider.parse_webhook({"Content-Type": "application/json"}, body)
    signed = {"x-toast-webhook-signature": WEBHOOK_SECRET}
    unsubscribe = webhook_body(
        {"hookId": "h", "recipientNo": PHONE, "unsubscribeNo": "0801234123"}, event="UNSUBSCRIBE"
    )
    assert provider.parse_webhook(signed, unsubscribe) == []
    with pytest.raises(MalformedWebhookError):
        provider.parse_webhook(signed, b"{")


def documented_query(
    msg_status: str, result_code: str, message_type: str = "SMS"
) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "header": {"resultCode": 0, "resultMessage": "SUCCESS", "isSuccessful": True},
            "body": {
                "data": {
                    "requestId": "20180810100630ReZQ6KZzAH0",
                    "requestDate": "2018-08-10 10:06:30.0",
                    "resultDate": "2018-08-10 10:06:42.0",
                    "body": "body",
                    "sendNo": SEND_NO,
                    "countryCode": "82",
                    "recipientNo": PHONE,
                    "msgStatus": msg_status,
                    "msgStatusName": "successful",
                    "resultCode": result_code,
                    "resultCodeName": "successful",
                    "telecomCode": 10001,
                    "telecomCodeName": "SKT",
                    "recipientSeq": 1,
                    "sendType": "0" if message_type == "SMS" else "1",
                    "messageType": message_type,
                    "messageCount": 1,
                    "adYn": "N",
                    "resultMessage": "",
                }
            },
        },
    )


async def test_nhn_sms_poll_uses_documented_status_query_mock_transport(
    nhn: tuple[FakeApi, NhnSmsProvider],
) -> None:
    fake, provider = nhn
    not_found = refusal(-2008, "Invalid requestId.")
    fake.answers += [
        documented_query("3", "1000"),  # r1 is an SMS
        not_found,  # r2 is not an SMS ...
        documented_query("0", "3015", "LMS"),  # ... but an LMS
        documented_query("2", ""),  # r3 still processing
        not_found,  # r4 is neither
        not_found,
    ]

    reports = await provider.poll(["r1:1", "r2:1", "r3:1", "r4:1", "bad"])

    assert [
        (r.url.path.rsplit("/", 2)[-2], r.url.params["recipientSeq"]) for r in fake.requests
    ] == [
        ("sms", "1"),
        ("sms", "1"),
        ("mms", "1"),
        ("sms", "1"),
        ("sms", "1"),
        ("mms", "1"),
    ]
    assert str(fake.requests[0].url) == f"{BASE}/sender/sms/r1?recipientSeq=1"
    assert [(r.provider_message_id, r.status, r.channel, r.code) for r in reports] == [
        ("r1:1", DeliveryStatus.DELIVERED, Channel.SMS, "1000"),
        ("r2:1", DeliveryStatus.FAILED, Channel.LMS, "3015"),
        ("r3:1", DeliveryStatus.PENDING, Channel.SMS, ""),
    ]
    assert reports[0].reported_at == datetime(2018, 8, 10, 1, 6, 42, tzinfo=UTC)


async def test_nhn_sms_never_logs_the_phone_number_mock_transport(
    nhn: tuple[FakeApi, NhnSmsProvider], caplog: pytest.LogCaptureFixture
) -> None:
    fake, provider = nhn
    caplog.set_level(logging.DEBUG)
    fake.answers += [documented_success(), httpx.ConnectError(PHONE), refusal(-2021, PHONE)]

    results = [await provider.send(sms_message()) for _ in range(3)]

    assert PHONE not in caplog.text
    assert "010-****-5678" in caplog.text
    assert all(PHONE not in repr(result) for result in results)
