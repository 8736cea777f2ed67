"""Solapi adapter against Solapi's documented HTTP contract (API reference and official SDK),
simulated with httpx.MockTransport (Solapi cannot be reached from tests)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from provider_fixtures import NOW, PHONE, FakeApi, fake_api

from notify_svc.providers._common import MalformedWebhookError, SignatureScheme
from notify_svc.providers.base import (
    Channel,
    DeliveryStatus,
    OutboundMessage,
    WebhookSignatureError,
)
from notify_svc.providers.solapi import SolapiProvider
from notify_svc.templates import render

API_KEY = "NCSAYU7YDBXYORXC"
API_SECRET = "solapi-api-secret"
SENDER = "0212345678"
PF_ID = "KA01PF200323182344986oTFz9CIabcx"
TEMPLATE_ID = "KA01TP230101000000000000000001"
WEBHOOK_SECRET = "solapi-webhook-secret"
SALT = "jqsba2jxjnrjor"
KEY = "forum.opened:5e2b:citizen-42:alimtalk"


@pytest.fixture
async def solapi() -> AsyncIterator[tuple[FakeApi, SolapiProvider]]:
    async with fake_api() as (fake, client):
        yield (
            fake,
            SolapiProvider(
                api_key=API_KEY,
                api_secret=API_SECRET,
                sender=SENDER,
                pf_id=PF_ID,
                client=client,
                template_ids={"FORUM_OPENED": TEMPLATE_ID},
                webhook_secret=WEBHOOK_SECRET,
                clock=lambda: NOW,
                salt=lambda: SALT,
            ),
        )


def expected_authorization() -> str:
    date = "2025-07-01T03:00:00Z"
    signature = hmac.new(API_SECRET.encode(), (date + SALT).encode(), hashlib.sha256).hexdigest()
    return f"HMAC-SHA256 apiKey={API_KEY}, date={date}, salt={SALT}, signature={signature}"


def forum_message() -> OutboundMessage:
    rendered = render(
        "FORUM_OPENED", {"공론장제목": "그늘막 설치 공론장", "마감일시": "2025-08-14 18:00"}
    )
    return OutboundMessage(
        idempotency_key=KEY,
        to=PHONE,
        channel=Channel.ALIMTALK,
        text=rendered.text,
        template_code=rendered.code,
        variables=rendered.variables,
    )


def documented_success(message_id: str = "M4V20250701120000ABCDEFGHIJKLMNO") -> httpx.Response:
    count = {
        "total": 1,
        "sentTotal": 0,
        "sentFailed": 0,
        "sentSuccess": 0,
        "sentPending": 0,
        "sentReplacement": 0,
        "refund": 0,
        "registeredFailed": 0,
        "registeredSuccess": 1,
    }
    return httpx.Response(
        200,
        json={
            "groupInfo": {
                "groupId": "G4V20250701120000ABCDEFGHIJKLMNO",
                "status": "SENDING",
                "count": count,
                "allowDuplicates": False,
                "isRefunded": False,
                "apiVersion": "4",
            },
            "failedMessageList": [],
            "messageList": [
                {
                    "messageId": message_id,
                    "groupId": "G4V20250701120000ABCDEFGHIJKLMNO",
                    "accountId": "12345678",
                    "statusMessage": "정상 접수(이통사로 접수 예정) ",
                    "statusCode": "2000",
                    "to": PHONE,
                    "from": SENDER,
                    "type": "ATA",
                    "country": "82",
                }
            ],
        },
    )


async def test_solapi_send_matches_documented_request_shape_mock_transport(
    solapi: tuple[FakeApi, SolapiProvider],
) -> None:
    fake, provider = solapi
    fake.answers.append(documented_success())

    result = await provider.send(forum_message())

    (request,) = fake.requests
    assert request.method == "POST"
    assert str(request.url) == "https://api.solapi.com/messages/v4/send-many/detail"
    assert request.headers["Authorization"] == expected_authorization()
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "messages": [
            {
                "to": PHONE,
                "from": SENDER,
                "type": "ATA",
                "kakaoOptions": {
                    "pfId": PF_ID,
                    "templateId": TEMPLATE_ID,
                    "variables": {
                        "#{공론장제목}": "그늘막 설치 공론장",
                        "#{마감일시}": "2025-08-14 18:00",
                    },
                    "disableSms": True,
                },
                "customFields": {"idempotencyKey": KEY},
            }
        ],
        "showMessageList": True,
    }
    assert result.accepted
    assert result.provider_message_id == "M4V20250701120000ABCDEFGHIJKLMNO"


async def test_solapi_sms_and_lms_request_shapes_mock_transport(
    solapi: tuple[FakeApi, SolapiProvider],
) -> None:
    fake, provider = solapi
    fake.answers += [documented_success("M-sms"), documented_success("M-lms")]
    sms = OutboundMessage(idempotency_key="k-sms", to=PHONE, channel=Channel.SMS, text="안내 문자")
    lms = OutboundMessage(
        idempotency_key="k-lms",
        to=PHONE,
        channel=Channel.LMS,
        text="가" * 100,
        title="[시민참여] 공론장 개설",
    )

    assert (await provider.send(sms)).provider_message_id == "M-sms"
    assert (await provider.send(lms)).provider_message_id == "M-lms"

    sms_body, lms_body = (json.loads(r.content)["messages"][0] for r in fake.requests)
    assert sms_body == {
        "to": PHONE,
        "from": SENDER,
        "type": "SMS",
        "text": "안내 문자",
        "customFields": {"idempotencyKey": "k-sms"},
    }
    assert lms_body == {
        "to": PHONE,
        "from": SENDER,
        "type": "LMS",
        "text": "가" * 100,
        "subject": "[시민참여] 공론장 개설",
        "customFields": {"idempotencyKey": "k-lms"},
    }


async def test_solapi_registration_failure_is_final_with_status_code_mock_transport(
    solapi: tuple[FakeApi, SolapiProvider],
) -> None:
    fake, provider = solapi
    answer = documented_success().json()
    answer["messageList"] = []
    answer["groupInfo"]["count"].update(registeredFailed=1, registeredSuccess=0)
    answer["failedMessageList"] = [
        {
            "to": PHONE,
            "from": SENDER,
            "type": "ATA",
            "statusMessage": f"수신번호({PHONE})가 올바르지 않습니다.",
            "country": "82",
            "messageId": "M-failed",
            "statusCode": "1062",
            "accountId": "12345678",
        }
    ]
    fake.answers.append(httpx.Response(200, json=answer))

    result = await provider.send(forum_message())

    assert (result.accepted, result.retryable, result.error_code) == (False, False, "1062")
    assert result.error_message == "수신번호(010-****-5678)가 올바르지 않습니다."


async def test_solapi_documented_error_answer_is_final_mock_transport(
    solapi: tuple[FakeApi, SolapiProvider],
) -> None:
    fake, provider = solapi
    fake.answers.append(
        httpx.Response(
            400, json={"errorCode": "ValidationError", "errorMessage": "templateId is invalid"}
        )
    )
    fake.answers.append(
        httpx.Response(403, json={"errorCode": "SignatureDoesNotMatch", "errorMessage": "no"})
    )

    invalid = await provider.send(forum_message())
    forbidden = await provider.send(forum_message())

    assert (invalid.accepted, invalid.retryable, invalid.error_code) == (
        False,
        False,
        "ValidationError",
    )
    assert invalid.error_message == "templateId is invalid"
    assert (forbidden.retryable, forbidden.error_code) == (False, "SignatureDoesNotMatch")


async def test_solapi_429_500_and_timeouts_are_retryable_mock_transport(
    solapi: tuple[FakeApi, SolapiProvider],
) -> None:
    fake, provider = solapi
    fake.answers += [
        httpx.Response(429, headers={"Retry-After": "3"}, json={"errorCode": "TooManyRequests"}),
        httpx.Response(500, json={"errorCode": "InternalError"}),
        httpx.ReadTimeout("timed out"),
        httpx.ConnectError("refused"),
    ]

    results = [await provider.send(forum_message()) for _ in range(4)]

    assert [(r.accepted, r.retryable) for r in results] == [(False, True)] * 4
    assert [r.error_code for r in results] == [
        "http_429",
        "http_500",
        "timeout",
        "connection_error",
    ]
    assert results[0].retry_after == 3.0


async def test_solapi_refuses_unencodable_sms_without_calling_solapi(
    solapi: tuple[FakeApi, SolapiProvider],
) -> None:
    fake, provider = solapi
    emoji = OutboundMessage(idempotency_key=KEY, to=PHONE, channel=Channel.SMS, text="축하해요 🎉")

    result = await provider.send(emoji)

    assert fake.requests == []
    assert (result.accepted, result.error_code) == (False, "invalid_text")


def report(message_id: str, status_code: str, kind: str = "ATA") -> dict[str, Any]:
    return {
        "eventDataId": f"event-{message_id}",
        "data": {
            "messageId": message_id,
            "groupId": "G4V20250701120000ABCDEFGHIJKLMNO",
            "type": kind,
            "to": PHONE,
            "from": SENDER,
            "statusCode": status_code,
            "statusMessage": "수신완료" if status_code == "4000" else "실패",
            "dateProcessed": "2025-07-01T03:00:01.000Z",
            "dateReported": "2025-07-01T03:00:03.000Z",
            "dateReceived": "2025-07-01T03:00:02.000Z",
            "networkCode": "SKT",
            "customFields": {"idempotencyKey": KEY},
            "kakaoOptions": {"pfId": PF_ID, "templateId": TEMPLATE_ID},
        },
        "retryCount": 0,
    }


def signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Solapi-Signature": digest}


async def test_solapi_single_report_webhook_with_valid_signature_mock_transport(
    solapi: tuple[FakeApi, SolapiProvider],
) -> None:
    _, provider = solapi
    body = json.dumps(
        [
            report("M1", "4000"),
            report("M2", "3104"),
            report("M3", "3000", "LMS"),
            report("M4", "4000", "SMS"),
            report("M5", "4000", "FAX"),
        ]
    ).encode()

    reports = provider.parse_webhook(signed(body), body)

    assert [(r.provider_message_id, r.status, r.channel, r.code) for r in reports] == [
        ("M1", DeliveryStatus.DELIVERED, Channel.ALIMTALK, "4000"),
        ("M2", DeliveryStatus.FAILED, Channel.ALIMTALK, "3104"),
        ("M3", DeliveryStatus.PENDING, Channel.LMS, "3000"),
        ("M4", DeliveryStatus.DELIVERED, Channel.SMS, "4000"),
    ]
    assert reports[0].reported_at == datetime(2025, 7, 1, 3, 0, 2, tzinfo=UTC)


async def test_solapi_webhook_forged_or_unsigned_is_rejected(
    solapi: tuple[FakeApi, SolapiProvider],
) -> None:
    _, provider = solapi
    body = json.dumps([report("M1", "4000")]).encode()
    forged_body = json.dumps([report("M1", "3104")]).encode()
    with pytest.raises(WebhookSignatureError):
        provider.parse_webhook(signed(body), forged_body)  # signature of another body
    with pytest.raises(WebhookSignatureError):
        provider.parse_webhook({"X-Solapi-Signature": WEBHOOK_SECRET}, body)
    with pytest.raises(WebhookSignatureError):
        provider.parse_webhook({}, body)
    with pytest.raises(MalformedWebhookError):
        provider.parse_webhook(signed(b"[{}]"), b"[{}]")


async def test_solapi_webhook_shared_secret_scheme_is_configurable() -> None:
    async with httpx.AsyncClient() as client:
        provider = SolapiProvider(
            api_key=API_KEY,
            api_secret=API_SECRET,
            sender=SENDER,
            pf_id=PF_ID,
            client=client,
            webhook_secret=WEBHOOK_SECRET,
            webhook_signature_header="X-Webhook-Token",
            webhook_signature_scheme=SignatureScheme.SHARED_SECRET,
        )
        body = json.dumps([report("M1", "4000")]).encode()
        assert len(provider.parse_webhook({"x-webhook-token": WEBHOOK_SECRET}, body)) == 1
        with pytest.raises(WebhookSignatureError):
            provider.parse_webhook({"X-Webhook-Token": "nope"}, body)


async def test_solapi_poll_uses_documented_message_list_mock_transport(
    solapi: tuple[FakeApi, SolapiProvider],
) -> None:
    fake, provider = solapi

    def listing(message_id: str, status_code: str) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "limit": 20,
                "startKey": None,
                "nextKey": None,
                "messageList": {
                    message_id: {
                        "messageId": message_id,
                        "type": "ATA",
                        "to": PHONE,
                        "from": SENDER,
                        "statusCode": status_code,
                        "dateReceived": "2025-07-01T03:00:02.000Z",
                    }
                },
            },
        )

    fake.answers += [
        listing("M1", "4000"),
        listing("M2", "2000"),
        httpx.Response(404, json={"errorCode": "NotFound"}),
        httpx.ConnectError("refused"),
    ]

    reports = await provider.poll(["M1", "M2", "M3", "M4"])

    assert [(r.method, r.url.path, r.url.params["messageId"]) for r in fake.requests] == [
        ("GET", "/messages/v4/list", "M1"),
        ("GET", "/messages/v4/list", "M2"),
        ("GET", "/messages/v4/list", "M3"),
        ("GET", "/messages/v4/list", "M4"),
    ]
    assert fake.requests[0].headers["Authorization"] == expected_authorization()
    assert [(r.provider_message_id, r.status) for r in reports] == [
        ("M1", DeliveryStatus.DELIVERED),
        ("M2", DeliveryStatus.PENDING),
    ]


async def test_solapi_never_logs_the_phone_number_mock_transport(
    solapi: tuple[FakeApi, SolapiProvider], caplog: pytest.LogCaptureFixture
) -> None:
    fake, provider = solapi
    caplog.set_level(logging.DEBUG)
    fake.answers += [documented_success(), httpx.ConnectError(PHONE)]

    results = [await provider.send(forum_message()) for _ in range(2)]

    assert PHONE not in caplog.text
    assert "010-****-5678" in caplog.text
    assert all(PHONE not in repr(result) for result in results)


# --- bulk (send-many with many messages) ------------------------------------------------------


def sms(key: str, to: str) -> OutboundMessage:
    return OutboundMessage(idempotency_key=key, to=to, channel=Channel.SMS, text="안내 문자")


async def test_solapi_bulk_sends_many_in_one_request_matched_by_custom_field_mock_transport(
    solapi: tuple[FakeApi, SolapiProvider],
) -> None:
    fake, provider = solapi
    messages = [sms(f"k-{i}", f"0101234000{i}") for i in range(3)]
    fake.answers.append(
        httpx.Response(
            200,
            json={
                "groupInfo": {"groupId": "G4V2025", "count": {"total": 3}},
                # In another order than sent, and one refused: matched by our key.
                "messageList": [
                    {
                        "messageId": "M-2",
                        "statusCode": "2000",
                        "customFields": {"idempotencyKey": "k-2"},
                    },
                    {
                        "messageId": "M-0",
                        "statusCode": "2000",
                        "customFields": {"idempotencyKey": "k-0"},
                    },
                ],
                "failedMessageList": [
                    {
                        "to": "01012340001",
                        "statusCode": "1062",
                        "statusMessage": "발신번호 미등록",
                        "customFields": {"idempotencyKey": "k-1"},
                    }
                ],
            },
        )
    )
    results = await provider.send_many(messages)
    [request] = fake.requests
    body = json.loads(request.content)
    assert [m["to"] for m in body["messages"]] == [m.to for m in messages]
    assert [m["customFields"]["idempotencyKey"] for m in body["messages"]] == ["k-0", "k-1", "k-2"]
    assert [(r.idempotency_key, r.accepted, r.provider_message_id) for r in results] == [
        ("k-0", True, "M-0"),
        ("k-1", False, None),
        ("k-2", True, "M-2"),
    ]
    assert (results[1].error_code, results[1].retryable) == ("1062", False)
    assert provider.max_batch == 1000


async def test_solapi_bulk_without_echoed_fields_is_matched_in_order_or_retried_mock_transport(
    solapi: tuple[FakeApi, SolapiProvider],
) -> None:
    fake, provider = solapi
    messages = [sms("k-a", "01012340001"), sms("k-b", "01012340002")]
    listed = [
        {"messageId": "M-a", "statusCode": "2000"},
        {"messageId": "M-b", "statusCode": "2000"},
    ]
    fake.answers.append(httpx.Response(200, json={"messageList": listed}))
    assert [r.provider_message_id for r in await provider.send_many(messages)] == ["M-a", "M-b"]

    # One entry for two messages, nothing echoed: the unmatched ones are retried.
    fake.answers.append(httpx.Response(200, json={"messageList": listed[:1]}))
    results = await provider.send_many(messages)
    assert {(r.accepted, r.retryable, r.error_code) for r in results} == {
        (False, True, "missing_result")
    }

    # A 429 for the request: every message is retryable, after Retry-After.
    fake.answers.append(httpx.Response(429, headers={"Retry-After": "7"}))
    throttled = await provider.send_many(messages)
    assert [(r.idempotency_key, r.retryable, r.retry_after) for r in throttled] == [
        ("k-a", True, 7.0),
        ("k-b", True, 7.0),
    ]
