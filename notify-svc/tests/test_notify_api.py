"""notify-svc's HTTP API against real PostgreSQL: preferences, a citizen's messages, provider
webhooks (dev provider, and NHN Cloud's documented webhook simulated), dead letters and the dev
provider's messages. Every refusal is a problem document and changes nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from notify_helpers import (
    MockClient,
    Notify,
    SimulatedNhn,
    nhn_settings,
)
from sqlalchemy import select, text
from standin_directory import StandInDirectory

from notify_svc.bootstrap import bootstrap
from notify_svc.config import NotifySettings
from notify_svc.dispatch.policy import DispatchPolicy
from notify_svc.main import create_app
from notify_svc.models import DeliveryReportRow, Notification
from notify_svc.providers.dev import SIGNATURE_HEADER, sign_webhook
from notify_svc.registry import build_providers
from services.clock import ManualClock
from services_dev.testing import running_app
from services_dev.testing.tokens import TestTokens

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"].endswith("/" + slug), body
    assert body["status"] == status
    return body


async def snapshot(notify: Notify) -> list[tuple[Any, ...]]:
    """Everything a webhook could change."""
    async with notify.sessions() as session:
        rows = await session.execute(
            text(
                "SELECT id::text, status, provider_message_id, updated_at::text FROM notifications "
                "UNION ALL SELECT 'report', count(*)::text, NULL, NULL FROM delivery_reports "
                "UNION ALL SELECT 'outbox', count(*)::text, NULL, NULL FROM outbox ORDER BY 1"
            )
        )
        return [tuple(r) for r in rows]


# --- preferences ------------------------------------------------------------------------------


async def test_preferences_default_then_replace(
    client: httpx.AsyncClient, tokens: TestTokens
) -> None:
    me = tokens.headers(uuid.uuid4())
    default = await client.get("/v1/notifications/preferences", headers=me)
    assert default.status_code == 200, default.text
    assert default.json() == {
        "channels": ["alimtalk", "sms"],
        "opt_out": False,
        "night_consent": False,
        "updated_at": None,
    }
    put = await client.put(
        "/v1/notifications/preferences",
        headers=me,
        json={"channels": ["sms"], "opt_out": True, "night_consent": True},
    )
    assert put.status_code == 200, put.text
    again = (await client.get("/v1/notifications/preferences", headers=me)).json()
    assert again["channels"] == ["sms"]
    assert (again["opt_out"], again["night_consent"]) == (True, True)
    assert again["updated_at"] is not None


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        ({"channels": [], "opt_out": False}, 422, "validation-error"),
        ({"channels": ["kakao"], "opt_out": False}, 422, "validation-error"),
        ({"channels": ["sms"]}, 422, "validation-error"),
        ({"channels": ["sms"], "opt_out": "maybe"}, 422, "validation-error"),
        (
            {"channels": ["sms"], "opt_out": False, "phone": "010-1234-5678"},
            422,
            "validation-error",
        ),
        ("{not json", 400, "malformed-json"),
        (
            '{"channels": ["sms"], "opt_out": false, "x": "' + "x" * 1_100_000 + '"}',
            413,
            "payload-too-large",
        ),
    ],
)
async def test_bad_preferences_are_refused_and_change_nothing(
    client: httpx.AsyncClient, tokens: TestTokens, body: Any, status: int, slug: str
) -> None:
    citizen = uuid.uuid4()
    kwargs: dict[str, Any] = (
        {
            "content": body,
            "headers": {**tokens.headers(citizen), "content-type": "application/json"},
        }
        if isinstance(body, str)
        else {"json": body, "headers": tokens.headers(citizen)}
    )
    assert_problem(await client.put("/v1/notifications/preferences", **kwargs), status, slug)
    stored = await client.get("/v1/notifications/preferences", headers=tokens.headers(citizen))
    assert stored.json()["updated_at"] is None


async def test_preferences_and_messages_need_a_citizen_token(
    client: httpx.AsyncClient, tokens: TestTokens
) -> None:
    assert_problem(await client.get("/v1/notifications/mine"), 401, "invalid-token")
    assert_problem(
        await client.put("/v1/notifications/preferences", json={"channels": ["sms"], "opt_out": 0}),
        401,
        "invalid-token",
    )
    staff_only = tokens.headers(roles=["department"])
    assert_problem(await client.get("/v1/notifications/mine", headers=staff_only), 403, "forbidden")


# --- my messages -----------------------------------------------------------------------------


async def test_mine_lists_my_messages_newest_first_with_a_cursor(
    client: httpx.AsyncClient, tokens: TestTokens, notify: Notify, clock: ManualClock
) -> None:
    me, other = uuid.uuid4(), uuid.uuid4()
    for _ in range(3):
        await notify.plan([me])
        clock.advance(seconds=1)
    await notify.plan([other])

    first = await client.get("/v1/notifications/mine?limit=2", headers=tokens.headers(me))
    assert first.status_code == 200, first.text
    page = first.json()
    assert len(page["items"]) == 2
    assert page["next_cursor"]
    second = await client.get(
        "/v1/notifications/mine",
        params={"limit": 2, "cursor": page["next_cursor"]},
        headers=tokens.headers(me),
    )
    rest = second.json()
    assert rest["next_cursor"] is None
    items = page["items"] + rest["items"]
    assert len({i["id"] for i in items}) == 3
    created = [i["created_at"] for i in items]
    assert created == sorted(created, reverse=True)
    item = items[0]
    assert item["channel"] == "alimtalk"
    assert item["template_code"] == "PROPOSAL_ANSWERED"
    assert item["status"] == "pending"
    assert "따릉이 대여소를 늘려주세요" in item["text"]
    assert "citizen_id" not in item

    assert_problem(
        await client.get(
            "/v1/notifications/mine", params={"cursor": "garbage!"}, headers=tokens.headers(me)
        ),
        400,
        "invalid-cursor",
    )
    assert_problem(
        await client.get("/v1/notifications/mine?limit=0", headers=tokens.headers(me)),
        422,
        "validation-error",
    )


# --- webhooks ----------------------------------------------------------------------------------


def dev_report(message_id: str, status: str, channel: str = "alimtalk") -> bytes:
    body = {
        "reports": [
            {
                "provider_message_id": message_id,
                "status": status,
                "channel": channel,
                "code": "E101" if status == "failed" else "0",
            }
        ]
    }
    return json.dumps(body).encode()


async def sent_alimtalk(notify: Notify, people: StandInDirectory) -> Notification:
    citizen = await people.citizen()
    await notify.plan([citizen])
    await notify.dispatcher().run_once()
    row = await notify.one()
    assert row.status == "sent"
    return row


async def test_dev_webhook_undelivered_alimtalk_queues_the_sms_fallback_once(
    client: httpx.AsyncClient,
    notify: Notify,
    people: StandInDirectory,
    notify_settings: NotifySettings,
) -> None:
    row = await sent_alimtalk(notify, people)
    assert row.provider_message_id is not None
    body = dev_report(row.provider_message_id, "failed")
    secret = notify_settings.dev_webhook_secret.get_secret_value()
    headers = {SIGNATURE_HEADER: sign_webhook(secret, body), "content-type": "application/json"}

    for _ in range(2):  # providers repeat webhooks
        answer = await client.post("/v1/notifications/webhooks/dev", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"received": 1, "matched": 1}

    failed = await notify.one(channel="alimtalk")
    assert (failed.status, failed.error_code) == ("failed", "E101")
    fallback = await notify.one(fallback_of=failed.id)
    assert fallback.status == "pending"
    await notify.dispatcher().run_once()
    assert (await notify.one(fallback_of=failed.id)).status == "sent"
    assert len(await notify.dev_messages()) == 2
    assert await notify.count(DeliveryReportRow) == 2


@pytest.mark.parametrize("forgery", ["wrong", "missing", "other-body"])
async def test_forged_webhook_signature_is_401_and_changes_nothing(
    client: httpx.AsyncClient,
    notify: Notify,
    people: StandInDirectory,
    notify_settings: NotifySettings,
    forgery: str,
) -> None:
    row = await sent_alimtalk(notify, people)
    assert row.provider_message_id is not None
    body = dev_report(row.provider_message_id, "failed")
    secret = notify_settings.dev_webhook_secret.get_secret_value()
    headers = {
        "wrong": {SIGNATURE_HEADER: sign_webhook("not-the-secret", body)},
        "missing": {},
        "other-body": {SIGNATURE_HEADER: sign_webhook(secret, dev_report("x", "delivered"))},
    }[forgery]
    before = await snapshot(notify)

    answer = await client.post("/v1/notifications/webhooks/dev", content=body, headers=headers)
    assert_problem(answer, 401, "invalid-webhook-signature")
    assert await snapshot(notify) == before


async def test_unknown_provider_and_malformed_reports(
    client: httpx.AsyncClient, notify_settings: NotifySettings
) -> None:
    body = b'{"reports": [{"status": "delivered"}]}'
    answer = await client.post("/v1/notifications/webhooks/nhn_sms", content=body)
    problem = assert_problem(answer, 404, "unknown-provider")
    assert problem["available"] == ["dev"]
    secret = notify_settings.dev_webhook_secret.get_secret_value()
    signed = {SIGNATURE_HEADER: sign_webhook(secret, body)}
    assert_problem(
        await client.post("/v1/notifications/webhooks/dev", content=body, headers=signed),
        400,
        "malformed-webhook",
    )
    huge = b'{"reports": [' + b'{"status": "delivered"},' * 60_000 + b"{}]}"
    assert_problem(
        await client.post(
            "/v1/notifications/webhooks/dev",
            content=huge,
            headers={SIGNATURE_HEADER: sign_webhook(secret, huge)},
        ),
        413,
        "payload-too-large",
    )


async def test_nhn_webhooks_update_statuses_even_before_the_send_is_recorded_simulated_nhn(
    notify: Notify,
    people: StandInDirectory,
    notify_settings: NotifySettings,
    tokens: TestTokens,
    clock: ManualClock,
    mock_client: MockClient,
) -> None:
    """NHN Cloud's MESSAGE_RESULT_UPDATE webhook as documented, signed with the configured
    signature; the provider is simulated with httpx.MockTransport."""
    settings = NotifySettings(
        environment="test",
        database_url=notify_settings.database_url,
        nats_url=notify_settings.nats_url,
        **nhn_settings(),
    )
    fake = SimulatedNhn()
    citizen = await people.citizen()
    await notify.plan([citizen])
    # The provider's message id the simulation will give the first AlimTalk send.
    first_id = "20261125000000000001:1"

    def hooks(*items: dict[str, Any]) -> bytes:
        return json.dumps(
            {
                "hooksId": "h1",
                "webhookConfigId": "w1",
                "productName": "KakaoTalk Bizmessage",
                "appKey": "alimtalk-app",
                "event": "MESSAGE_RESULT_UPDATE",
                "hooks": list(items),
            }
        ).encode()

    undelivered = hooks(
        {
            "kakaoMessageType": "ALIMTALK_NORMAL",
            "requestId": first_id.split(":")[0],
            "recipientSeq": 1,
            "requestDate": "2026-11-25 12:00:00",
            "receiveDate": "2026-11-25 12:00:05",
            "recipientNo": "01012345678",
            "resultCode": "3018",
            "hookId": "x1",
        }
    )
    app = create_app(
        bootstrap(settings, clock=clock), key_source=tokens, http_client=mock_client(fake.handle)
    )
    async with running_app(app) as api:
        signature = {"X-Toast-Webhook-Signature": "nhn-webhook-secret"}
        forged = await api.post(
            "/v1/notifications/webhooks/nhn_alimtalk",
            content=undelivered,
            headers={"X-Toast-Webhook-Signature": "guess"},
        )
        assert_problem(forged, 401, "invalid-webhook-signature")
        # The report overtakes the send result: kept, applied once the id is recorded.
        early = await api.post(
            "/v1/notifications/webhooks/nhn_alimtalk", content=undelivered, headers=signature
        )
        assert early.json() == {"received": 1, "matched": 0}

        async with build_providers(
            settings, notify.sessions, client=mock_client(fake.handle)
        ) as providers:
            dispatcher = notify.dispatcher(providers=providers, policy=DispatchPolicy())
            await dispatcher.run_once()  # AlimTalk accepted; the early report fails it
            alimtalk = await notify.one(channel="alimtalk")
            assert (alimtalk.provider_message_id, alimtalk.status) == (first_id, "failed")
            assert alimtalk.error_code == "3018"
            await dispatcher.run_once()  # the SMS fallback goes out
        fallback = await notify.one(fallback_of=alimtalk.id)
        assert fallback.status == "sent"
        assert fallback.provider_message_id is not None

        delivered = json.dumps(
            {
                "hooksId": "h2",
                "event": "MESSAGE_RESULT_UPDATE",
                "hooks": [
                    {
                        "hookId": "x2",
                        "senderType": "SMS",
                        "requestId": fallback.provider_message_id.split(":")[0],
                        "recipientSeq": 1,
                        "messageStatus": "COMPLETED",
                        "resultCode": "1000",
                        "receiveDate": "2026-11-25 12:00:09",
                    }
                ],
            }
        ).encode()
        answer = await api.post(
            "/v1/notifications/webhooks/nhn_sms", content=delivered, headers=signature
        )
        assert answer.json() == {"received": 1, "matched": 1}
        dev = await api.get("/v1/notifications/dev/messages")
        assert dev.status_code == 404  # no dev provider configured
    assert (await notify.one(fallback_of=alimtalk.id)).status == "delivered"
    async with notify.sessions() as session:
        reports = list(await session.scalars(select(DeliveryReportRow)))
    assert all(r.applied for r in reports)
    assert len(fake.sends("alimtalk")) == len(fake.sends("sms")) == 1


# --- operators ----------------------------------------------------------------------------------


async def test_dead_letters_are_listed_for_admins_and_can_be_requeued(
    client: httpx.AsyncClient, tokens: TestTokens, notify: Notify
) -> None:
    citizen = uuid.uuid4()
    await notify.plan([citizen])
    row = await notify.one()
    async with notify.sessions() as session, session.begin():
        stored = await session.get(Notification, row.id)
        assert stored is not None
        stored.status, stored.attempts, stored.error_code = "dead", 6, "http_503"

    admin = tokens.headers(roles=["admin"])
    assert_problem(
        await client.get("/v1/notifications/admin/dead-letters", headers=tokens.headers()),
        403,
        "forbidden",
    )
    listed = await client.get("/v1/notifications/admin/dead-letters", headers=admin)
    assert listed.status_code == 200, listed.text
    [dead] = listed.json()["items"]
    assert (dead["id"], dead["citizen_id"], dead["error_code"]) == (
        str(row.id),
        str(citizen),
        "http_503",
    )
    requeue = f"/v1/notifications/admin/dead-letters/{row.id}/requeue"
    again = await client.post(requeue, headers=admin)
    assert again.status_code == 200, again.text
    assert (again.json()["status"], again.json()["attempts"]) == ("pending", 0)
    assert_problem(await client.post(requeue, headers=admin), 409, "notification-not-dead")
    assert_problem(
        await client.post(
            f"/v1/notifications/admin/dead-letters/{uuid.uuid4()}/requeue", headers=admin
        ),
        404,
        "notification-not-found",
    )
    assert (await client.get("/v1/notifications/admin/dead-letters", headers=admin)).json()[
        "items"
    ] == []


async def test_dev_messages_show_what_would_have_been_sent(
    client: httpx.AsyncClient, notify: Notify, people: StandInDirectory
) -> None:
    row = await sent_alimtalk(notify, people)
    other = await people.citizen()
    await notify.plan([other])
    await notify.dispatcher().run_once()

    everyone = (await client.get("/v1/notifications/dev/messages")).json()["items"]
    assert len(everyone) == 2
    mine = await client.get(
        "/v1/notifications/dev/messages", params={"citizen_id": str(row.citizen_id)}
    )
    [message] = mine.json()["items"]
    assert message["to"] == "010-****-5678"
    assert message["notification_id"] == str(row.id)
    assert message["text"] == row.text
    paged = (await client.get("/v1/notifications/dev/messages?limit=1")).json()
    assert paged["next_cursor"]
    rest = await client.get(
        "/v1/notifications/dev/messages", params={"limit": 1, "cursor": paged["next_cursor"]}
    )
    assert len(rest.json()["items"]) == 1
    assert (
        rest.json()["items"][0]["provider_message_id"] != paged["items"][0]["provider_message_id"]
    )
