"""NHN Cloud AlimTalk adapter against NHN's documented HTTP contract, simulated with
httpx.MockTransport (NHN Cloud cannot be reached from tests)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from provider_fixtures import NOW, PHONE, FakeApi, fake_api, nhn_refusal, nhn_webhook_body

from notify_svc.providers._common import MalformedWebhookError, SignatureScheme
from notify_svc.providers.base import (
    Channel,
    DeliveryStatus,
    OutboundMessage,
    ProviderError,
    WebhookSignatureError,
)
from notify_svc.providers.nhn_alimtalk import NhnAlimTalkProvider
from notify_svc.templates import render

APP_KEY = "AppKeyFromConsole"
SECRET_KEY = "SecretKeyFromConsole"
SENDER_KEY = "4f6a8c2e0b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a"
WEBHOOK_SECRET = "webhook-signature-typed-in-console"
BASE = f"https://api-alimtalk.cloud.toast.com/alimtalk/v2.3/appkeys/{APP_KEY}"
KEY = "proposal.threshold_reached:9f1c:citizen-42:alimtalk"


@pytest.fixture
async def nhn() -> AsyncIterator[tuple[FakeApi, NhnAlimTalkProvider]]:
    async with fake_api() as (fake, client):
        yield (
            fake,
            NhnAlimTalkProvider(
                app_key=APP_KEY,
                secret_key=SECRET_KEY,
                sender_key=SENDER_KEY,
                client=client,
                webhook_secret=WEBHOOK_SECRET,
                clock=lambda: NOW,
            ),
        )


def tier_message(key: str = KEY) -> OutboundMessage:
    rendered = render(
        "PROPOSAL_TIER_REACHED",
        {
            "제안제목": "성수동 보행로 그늘막",
            "동의수": "50",
            "의무": "부서 답변",
            "기한": "2025-07-31",
        },
    )
    return OutboundMessage(
        idempotency_key=key,
        to=PHONE,
        channel=Channel.ALIMTALK,
        text=rendered.text,
        template_code=rendered.code,
        variables=rendered.variables,
    )


def documented_success(request_id: str = "20190101112233abcdefg0", seq: int = 1) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "header": {"resultCode": 0, "resultMessage": "SUCCESS", "isSuccessful": True},
            "message": {
                "requestId": request_id,
                "senderGroupingKey": None,
                "sendResults": [
                    {
                        "recipientSeq": seq,
                        "recipientNo": PHONE,
                        "resultCode": 0,
                        "resultMessage": "SUCCESS",
                        "recipientGroupingKey": KEY,
                    }
                ],
            },
        },
    )


def refusal(code: int, message: str) -> httpx.Response:
    return nhn_refusal(code, message)


async def test_nhn_alimtalk_send_matches_documented_request_shape_mock_transport(
    nhn: tuple[FakeApi, NhnAlimTalkProvider],
) -> None:
    fake, provider = nhn
    fake.answers.append(documented_success())

    result = await provider.send(tier_message())

    (request,) = fake.requests
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/messages"
    assert request.headers["X-Secret-Key"] == SECRET_KEY
    assert request.headers["X-NC-API-IDEMPOTENCY-KEY"] == KEY
    assert request.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert json.loads(request.content) == {
        "senderKey": SENDER_KEY,
        "templateCode": "PRP_TIER_REACHED_V1",
        "recipientList": [
            {
                "recipientNo": PHONE,
                "templateParameter": {
                    "제안제목": "성수동 보행로 그늘막",
                    "동의수": "50",
                    "의무": "부서 답변",
                    "기한": "2025-07-31",
                },
                "resendParameter": {"isResend": False},
                "recipientGroupingKey": KEY,
            }
        ],
    }
    assert result.accepted
    assert not result.retryable
    assert result.provider_message_id == "20190101112233abcdefg0:1"
    assert result.idempotency_key == KEY


async def test_nhn_alimtalk_documented_refusal_is_final_with_provider_code_mock_transport(
    nhn: tuple[FakeApi, NhnAlimTalkProvider],
) -> None:
    fake, provider = nhn
    fake.answers.append(refusal(-3003, "Template does not exist."))

    result = await provider.send(tier_message())

    assert not result.accepted
    assert not result.retryable
    assert result.error_code == "-3003"
    assert result.error_message == "Template does not exist."


async def test_nhn_alimtalk_recipient_refusal_masks_echoed_number_mock_transport(
    nhn: tuple[FakeApi, NhnAlimTalkProvider],
) -> None:
    fake, provider = nhn
    answer = documented_success().json()
    answer["message"]["sendResults"][0].update(
        resultCode=-5000, resultMessage=f"RecipientNo is invalid. ({PHONE})"
    )
    fake.answers.append(httpx.Response(200, json=answer))

    result = await provider.send(tier_message())

    assert (result.accepted, result.retryable, result.error_code) == (False, False, "-5000")
    assert result.error_message == "RecipientNo is invalid. (010-****-5678)"


async def test_nhn_alimtalk_429_with_retry_after_is_retryable_mock_transport(
    nhn: tuple[FakeApi, NhnAlimTalkProvider],
) -> None:
    fake, provider = nhn
    fake.answers.append(httpx.Response(429, headers={"Retry-After": "7"}))
    fake.answers.append(
        httpx.Response(429, headers={"Retry-After": "Tue, 01 Jul 2025 03:00:30 GMT"})
    )

    first = await provider.send(tier_message())
    second = await provider.send(tier_message())

    assert (first.accepted, first.retryable, first.retry_after) == (False, True, 7.0)
    assert first.error_code == "http_429"
    assert second.retry_after == 30.0
    # The retry reuses the idempotency key, so NHN rejects a repeat that had gone through.
    assert {r.headers["X-NC-API-IDEMPOTENCY-KEY"] for r in fake.requests} == {KEY}


async def test_nhn_alimtalk_500_is_retryable_without_retry_after_mock_transport(
    nhn: tuple[FakeApi, NhnAlimTalkProvider],
) -> None:
    fake, provider = nhn
    fake.answers.append(httpx.Response(500, text="Internal Server Error"))

    result = await provider.send(tier_message())

    assert (result.accepted, result.retryable, result.retry_after) == (False, True, None)
    assert result.error_code == "http_500"


async def test_nhn_alimtalk_system_error_code_is_retryable_mock_transport(
    nhn: tuple[FakeApi, NhnAlimTalkProvider],
) -> None:
    fake, provider = nhn
    fake.answers.append(refusal(-9999, "System error. Please inquire at support@toast.com."))

    result = await provider.send(tier_message())

    assert (result.accepted, result.retryable, result.error_code) == (False, True, "-9999")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (httpx.ReadTimeout("timed out"), "timeout"),
        (httpx.ConnectTimeout("timed out"), "timeout"),
        (httpx.ConnectError("connection refused"), "connection_error"),
    ],
)
async def test_nhn_alimtalk_timeouts_and_connection_errors_are_retryable_mock_transport(
    nhn: tuple[FakeApi, NhnAlimTalkProvider], error: Exception, code: str
) -> None:
    fake, provider = nhn
    fake.answers.append(error)

    result = await provider.send(tier_message())

    assert (result.accepted, result.retryable, result.error_code) == (False, True, code)


async def test_nhn_alimtalk_repeated_idempotency_key_is_already_accepted_mock_transport(
    nhn: tuple[FakeApi, NhnAlimTalkProvider],
) -> None:
    fake, provider = nhn
    fake.answers.append(
        refusal(-1005, "The same 'X-NC-API-IDEMPOTENCY-KEY' was used within the last 10 minute.")
    )
    fake.answers.append(
        httpx.Response(
            200,
            json={
                "header": {"resultCode": 0, "resultMessage": "SUCCESS", "isSuccessful": True},
                "messageSearchResultResponse": {
                    "messages": [
                        {
                            "requestId": "20190101112233abcdefg0",
                            "recipientSeq": 1,
                            "recipientNo": PHONE,
                            "messageStatus": "COMPLETED",
                            "resultCode": "1000",
                            "recipientGroupingKey": KEY,
                        }
                    ],
                    "totalCount": 1,
                },
            },
        )
    )

    result = await provider.send(tier_message())

    assert result.accepted
    assert result.already_accepted
    assert not result.retryable
    assert result.provider_message_id == "20190101112233abcdefg0:1"
    lookup = fake.requests[1]
    assert lookup.method == "GET"
    assert lookup.url.path == f"/alimtalk/v2.3/appkeys/{APP_KEY}/messages"
    assert parse_qs(urlsplit(str(lookup.url)).query) == {
        "startRequestDate": ["2025-07-01 11:45"],
        "endRequestDate": ["2025-07-01 12:01"],
        "recipientGroupingKey": [KEY],
        "pageSize": ["1"],
    }
    assert lookup.headers["X-Secret-Key"] == SECRET_KEY


async def test_nhn_alimtalk_long_idempotency_key_is_hashed_to_100_chars_mock_transport(
    nhn: tuple[FakeApi, NhnAlimTalkProvider],
) -> None:
    fake, provider = nhn
    fake.answers.append(documented_success())
    long_key = "k" * 150

    await provider.send(tier_message(long_key))

    sent_key = fake.requests[0].headers["X-NC-API-IDEMPOTENCY-KEY"]
    assert sent_key == hashlib.sha256(long_key.encode()).hexdigest()
    body = json.loads(fake.requests[0].content)
    assert body["recipientList"][0]["recipientGroupingKey"] == sent_key


async def test_nhn_alimtalk_refuses_non_alimtalk_messages(
    nhn: tuple[FakeApi, NhnAlimTalkProvider],
) -> None:
    _, provider = nhn
    sms = OutboundMessage(idempotency_key=KEY, to=PHONE, channel=Channel.SMS, text="안녕하세요")
    with pytest.raises(ProviderError):
        await provider.send(sms)


def webhook_body(*hooks: dict[str, Any], event: str = "MESSAGE_RESULT_UPDATE") -> bytes:
    return nhn_webhook_body(APP_KEY, "KakaoTalk Bizmessage", *hooks, event=event)


def hook(seq: int, result_code: str, kind: str = "ALIMTALK_NORMAL") -> dict[str, Any]:
    return {
        "kakaoMessageType": kind,
        "requestId": "20190101112233abcdefg0",
        "recipientSeq": seq,
        "requestDate": "2025-07-01 12:00:00",
        "createDate": "2025-07-01 12:00:00",
        "receiveDate": "2025-07-01 12:00:05",
        "recipientNo": PHONE,
        "resultCode": result_code,
        "senderGroupingKey": None,
        "recipientGroupingKey": KEY,
        "_links": {"self": {"href": f"{BASE}/messages/20190101112233abcdefg0/{seq}"}},
        "hookId": f"hook-{seq}",
    }


async def test_nhn_alimtalk_webhook_with_valid_signature_gives_reports_mock_transport(
    nhn: tuple[FakeApi, NhnAlimTalkProvider],
) -> None:
    _, provider = nhn
    body = webhook_body(hook(1, "1000"), hook(2, "3018"), hook(3, "1000", "FRIENDTALK_NORMAL"))

    reports = provider.parse_webhook({"x-toast-webhook-signature": WEBHOOK_SECRET}, body)

    assert [(r.provider_message_id, r.status, r.channel, r.code) for r in reports] == [
        ("20190101112233abcdefg0:1", DeliveryStatus.DELIVERED, Channel.ALIMTALK, "1000"),
        ("20190101112233abcdefg0:2", DeliveryStatus.FAILED, Channel.ALIMTALK, "3018"),
    ]
    assert reports[0].reported_at == datetime(2025, 7, 1, 3, 0, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Toast-Webhook-Signature": "forged"},
        {"X-Toast-Webhook-Signature": WEBHOOK_SECRET + "x"},
        {"X-Toast-Webhook-Signature": ""},
        {},
    ],
)
async def test_nhn_alimtalk_webhook_with_forged_signature_is_rejected(
    nhn: tuple[FakeApi, NhnAlimTalkProvider], headers: dict[str, str]
) -> None:
    _, provider = nhn
    with pytest.raises(WebhookSignatureError):
        provider.parse_webhook(headers, webhook_body(hook(1, "1000")))


async def test_nhn_alimtalk_webhook_hmac_scheme_checks_the_body() -> None:
    async with httpx.AsyncClient() as client:
        provider = NhnAlimTalkProvider(
            app_key=APP_KEY,
            secret_key=SECRET_KEY,
            sender_key=SENDER_KEY,
            client=client,
            webhook_secret=WEBHOOK_SECRET,
            webhook_signature_scheme=SignatureScheme.HMAC_SHA256_HEX,
        )
        body = webhook_body(hook(1, "1000"))
        good = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert len(provider.parse_webhook({"X-Toast-Webhook-Signature": good}, body)) == 1
        with pytest.raises(WebhookSignatureError):
            provider.parse_webhook({"X-Toast-Webhook-Signature": good}, body + b" ")
        with pytest.raises(WebhookSignatureError):
            provider.parse_webhook({"X-Toast-Webhook-Signature": WEBHOOK_SECRET}, body)


async def test_nhn_alimtalk_webhook_without_configured_secret_rejects_everything() -> None:
    async with httpx.AsyncClient() as client:
        provider = NhnAlimTalkProvider(
            app_key=APP_KEY, secret_key=SECRET_KEY, sender_key=SENDER_KEY, client=client
        )
        with pytest.raises(WebhookSignatureError):
            provider.parse_webhook({"X-Toast-Webhook-Signature": ""}, webhook_body())


async def test_nhn_alimtalk_webhook_other_events_and_malformed_bodies(
    nhn: tuple[FakeApi, NhnAlimTalkProvider],
) -> None:
    _, provider = nhn
    signed = {"X-Toast-Webhook-Signature": WEBHOOK_SECRET}
    template_update = webhook_body(
        {"senderKey": SENDER_KEY, "templateCode": "PRP_TIER_REACHED_V1", "status": "TSC03"},
        event="TEMPLATE_STATUS_UPDATE",
    )
    assert provider.parse_webhook(signed, template_update) == []
    with pytest.raises(MalformedWebhookError):
        provider.parse_webhook(signed, b"not json")
    with pytest.raises(MalformedWebhookError):
        provider.parse_webhook(signed, webhook_body({"resultCode": "1000"}))


def documented_query(status: str, result_code: str | None) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "header": {"resultCode": 0, "resultMessage": "SUCCESS", "isSuccessful": True},
            "message": {
                "requestId": "20190101112233abcdefg0",
                "recipientSeq": 1,
                "plusFriendId": "@civic",
                "senderKey": SENDER_KEY,
                "templateCode": "PRP_TIER_REACHED_V1",
                "recipientNo": PHONE,
                "content": "...",
                "requestDate": "2025-07-01 12:00:00.0",
                "receiveDate": "2025-07-01 12:00:04.0",
                "createDate": "2025-07-01 12:00:00.0",
                "resendStatus": "RSC01",
                "resendStatusName": "재발송 미대상",
                "messageStatus": status,
                "resultCode": result_code,
                "resultCodeName": "성공" if result_code == "1000" else "실패",
                "buttons": [],
                "senderGroupingKey": None,
                "recipientGroupingKey": KEY,
            },
        },
    )


async def test_nhn_alimtalk_poll_uses_documented_status_query_mock_transport(
    nhn: tuple[FakeApi, NhnAlimTalkProvider],
) -> None:
    fake, provider = nhn
    fake.answers += [
        documented_query("COMPLETED", "1000"),
        documented_query("FAILED", "3018"),
        documented_query("READY", None),
        httpx.ReadTimeout("timed out"),
        refusal(-1016, "It is not found any messages responding with that requestId."),
    ]
    ids = ["r1:1", "r2:1", "r3:1", "r4:1", "r5:1", "malformed"]

    reports = await provider.poll(ids)

    assert [r.method for r in fake.requests] == ["GET"] * 5
    assert [str(r.url) for r in fake.requests] == [f"{BASE}/messages/r{i}/1" for i in range(1, 6)]
    assert all(r.headers["X-Secret-Key"] == SECRET_KEY for r in fake.requests)
    assert [(r.provider_message_id, r.status, r.code) for r in reports] == [
        ("r1:1", DeliveryStatus.DELIVERED, "1000"),
        ("r2:1", DeliveryStatus.FAILED, "3018"),
        ("r3:1", DeliveryStatus.PENDING, None),
    ]
    assert reports[0].reported_at == datetime(2025, 7, 1, 3, 0, 4, tzinfo=UTC)


async def test_nhn_alimtalk_never_logs_or_returns_the_phone_number_mock_transport(
    nhn: tuple[FakeApi, NhnAlimTalkProvider], caplog: pytest.LogCaptureFixture
) -> None:
    fake, provider = nhn
    caplog.set_level(logging.DEBUG)
    fake.answers += [
        documented_success(),
        refusal(-5000, f"RecipientNo is invalid: {PHONE}"),
        httpx.ConnectError(f"cannot reach {PHONE}"),
        httpx.Response(503),
    ]
    results = [await provider.send(tier_message()) for _ in range(4)]

    assert PHONE not in caplog.text
    assert "010-1234-5678" not in caplog.text
    assert "010-****-5678" in caplog.text
    for result in results:
        assert PHONE not in repr(result)


# --- bulk (many recipients in one recipientList) ----------------------------------------------


async def test_bulk_send_puts_every_recipient_in_one_request_mock_transport(
    nhn: tuple[FakeApi, NhnAlimTalkProvider],
) -> None:
    fake, provider = nhn
    messages = [tier_message(f"{KEY}:{i}") for i in range(3)]
    fake.answers.append(
        httpx.Response(
            200,
            json={
                "header": {"resultCode": 0, "resultMessage": "SUCCESS", "isSuccessful": True},
                "message": {
                    "requestId": "20190101112233bulk",
                    # Out of order, one refused: matched by recipientGroupingKey.
                    "sendResults": [
                        {"recipientSeq": 3, "resultCode": 0, "recipientGroupingKey": f"{KEY}:2"},
                        {
                            "recipientSeq": 2,
                            "resultCode": -5000,
                            "resultMessage": "Invalid recipientNo",
                            "recipientGroupingKey": f"{KEY}:1",
                        },
                        {"recipientSeq": 1, "resultCode": 0, "recipientGroupingKey": f"{KEY}:0"},
                    ],
                },
            },
        )
    )
    results = await provider.send_many(messages)
    [request] = fake.requests
    body = json.loads(request.content)
    assert (body["senderKey"], body["templateCode"]) == (SENDER_KEY, "PRP_TIER_REACHED_V1")
    assert [r["recipientGroupingKey"] for r in body["recipientList"]] == [
        m.idempotency_key for m in messages
    ]
    assert all(r["resendParameter"] == {"isResend": False} for r in body["recipientList"])
    assert body["recipientList"][0]["templateParameter"]["제안제목"] == "성수동 보행로 그늘막"
    expected_key = hashlib.sha256(
        "\n".join(sorted(m.idempotency_key for m in messages)).encode()
    ).hexdigest()
    assert request.headers["X-NC-API-IDEMPOTENCY-KEY"] == expected_key
    assert [(r.accepted, r.provider_message_id, r.error_code) for r in results] == [
        (True, "20190101112233bulk:1", None),
        (False, None, "-5000"),
        (True, "20190101112233bulk:3", None),
    ]
    assert provider.max_batch == 1000


async def test_bulk_send_refuses_mixed_templates_and_handles_failures_mock_transport(
    nhn: tuple[FakeApi, NhnAlimTalkProvider],
) -> None:
    fake, provider = nhn
    answered = render("PROPOSAL_ANSWERED", {"제안제목": "그늘막", "답변주체": "담당 부서"})
    other = OutboundMessage(
        idempotency_key="other",
        to=PHONE,
        channel=Channel.ALIMTALK,
        text=answered.text,
        template_code=answered.code,
        variables=answered.variables,
    )
    with pytest.raises(ProviderError):
        await provider.send_many([tier_message("a"), other])
    assert fake.requests == []

    pair = [tier_message("a"), tier_message("b")]
    fake.answers.append(httpx.ConnectError("refused"))
    assert {(r.retryable, r.error_code) for r in await provider.send_many(pair)} == {
        (True, "connection_error")
    }
    # A header refusal applies to every recipient; an answer silent about one is retried.
    fake.answers.append(nhn_refusal(-3003, "Invalid template"))
    assert [r.error_code for r in await provider.send_many(pair)] == ["-3003", "-3003"]
    fake.answers.append(documented_success(seq=1))  # names only KEY, neither of ours
    silent = await provider.send_many(pair)
    assert {(r.accepted, r.retryable, r.error_code) for r in silent} == {
        (False, True, "missing_result")
    }
