"""Batched towards the provider: a thousand followers are a thousand notifications in a few NHN
AlimTalk requests (``recipientList``), not a thousand calls; redelivery adds nothing; per-
recipient refusals, a 429 for the whole request and a worker dying after a bulk send are each
handled as for a single message. NHN Cloud is simulated behind an ``httpx.MockTransport``
(SimulatedNhn, its documented request and answer shapes); the event comes through real NATS
JetStream, the followers from the stand-in of proposal-svc, the rows in real PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
from nats.js import JetStreamContext
from notify_helpers import (
    MockClient,
    Notify,
    SimulatedNhn,
    nhn_settings,
    publish,
    publish_envelope,
)
from standin_directory import StandInDirectory
from test_notify_consumers import threshold
from test_notify_dispatch import simulated_nhn

from notify_svc.config import NotifySettings
from notify_svc.dispatch.policy import DispatchPolicy
from notify_svc.models import Notification
from notify_svc.providers.base import OutboundMessage
from notify_svc.registry import build_providers
from services.clock import ManualClock


def recipients(request: httpx.Request) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(request.content)["recipientList"]
    return found


async def sent_in_full(notify: Notify, dispatcher: Any, expected: int) -> None:
    for _ in range(50):
        await dispatcher.run_once()
        if await notify.count(Notification, Notification.status == "sent") >= expected:
            return
    raise AssertionError("the dispatcher did not send everything")


async def test_a_thousand_followers_are_a_thousand_messages_in_two_requests_simulated_nhn(
    notify: Notify,
    people: StandInDirectory,
    js: JetStreamContext,
    notify_settings: NotifySettings,
    mock_client: MockClient,
) -> None:
    author = await people.citizen()
    followers = [await people.citizen(f"010-5555-{i:04d}") for i in range(1000)]
    proposal_id = uuid.uuid4()
    people.follow(proposal_id, followers)
    event = threshold(author, proposal_id)
    envelope = await publish(js, event)
    await notify.consume(js)

    fake = SimulatedNhn()
    async with simulated_nhn(notify_settings, notify.sessions, mock_client, fake) as providers:
        dispatcher = notify.dispatcher(providers=providers, policy=DispatchPolicy(batch_size=501))
        while await dispatcher.expand_recipients():
            pass
        assert await notify.count(Notification) == 1001
        await sent_in_full(notify, dispatcher, 1001)

        sends = fake.sends("alimtalk")
        # 501 claimed per round: the proposer's own template alone, then one request per
        # round for the followers' template.
        assert len(sends) <= 4, len(sends)
        listed = [r for request in sends for r in recipients(request)]
        assert len(listed) == 1001
        keys = [r["recipientGroupingKey"] for r in listed]
        assert len(set(keys)) == 1001
        assert {r["recipientNo"] for r in listed} >= {f"01055550{i:03d}" for i in range(1000)}
        bodies = [json.loads(r.content) for r in sends]
        assert {b["templateCode"] for b in bodies} == {"PRP_TIER_REACHED_V1", "FLW_TIER_REACHED_V1"}
        # Each request carries its own idempotency key.
        assert len({r.headers["X-NC-API-IDEMPOTENCY-KEY"] for r in sends}) == len(sends)

        rows = await notify.rows()
        assert {r.status for r in rows} == {"sent"}
        assert len({r.provider_message_id for r in rows}) == 1001

        # The event again (a redelivery past the stream's duplicate window): nothing new.
        await publish_envelope(js, event, envelope, dedupe=False)
        await notify.consume(js)
        while await dispatcher.expand_recipients():
            pass
        assert await dispatcher.run_once() == 0
        assert await notify.count(Notification) == 1001
        assert len(fake.sends("alimtalk")) == len(sends)


def bulk_answer(codes: Sequence[int]) -> httpx.Response:
    """NHN's answer to a bulk send whose i-th recipient got ``codes[i]`` (without grouping keys:
    matched in list order)."""
    return httpx.Response(
        200,
        json={
            "header": {"isSuccessful": True, "resultCode": 0, "resultMessage": "SUCCESS"},
            "message": {
                "requestId": "20261125000000000bulk",
                "sendResults": [
                    {
                        "recipientSeq": seq,
                        "resultCode": code,
                        "resultMessage": "SUCCESS" if code == 0 else "Invalid recipientNo",
                    }
                    for seq, code in enumerate(codes, start=1)
                ],
            },
        },
    )


async def test_one_refused_recipient_of_a_bulk_fails_alone_and_gets_its_sms_simulated_nhn(
    notify: Notify,
    people: StandInDirectory,
    notify_settings: NotifySettings,
    mock_client: MockClient,
) -> None:
    await notify.plan([await people.citizen() for _ in range(3)])
    fake = SimulatedNhn(alimtalk_script=[bulk_answer([0, -5000, 0])])
    async with simulated_nhn(notify_settings, notify.sessions, mock_client, fake) as providers:
        await notify.dispatcher(providers=providers).run_once()
        assert len(fake.sends("alimtalk")) == 1
        assert len(recipients(fake.sends("alimtalk")[0])) == 3
        failed = await notify.one(channel="alimtalk", status="failed")
        assert failed.error_code == "-5000"
        assert len(await notify.rows(channel="alimtalk", status="sent")) == 2
        fallback = await notify.one(fallback_of=failed.id)
        assert fallback.channel in ("sms", "lms")


async def test_a_429_for_the_whole_bulk_retries_it_in_bulk_simulated_nhn(
    notify: Notify,
    people: StandInDirectory,
    notify_settings: NotifySettings,
    mock_client: MockClient,
    clock: ManualClock,
) -> None:
    await notify.plan([await people.citizen() for _ in range(4)])
    throttled = httpx.Response(429, headers={"Retry-After": "30"})
    fake = SimulatedNhn(alimtalk_script=[throttled])
    async with simulated_nhn(notify_settings, notify.sessions, mock_client, fake) as providers:
        dispatcher = notify.dispatcher(providers=providers)
        await dispatcher.run_once()
        rows = await notify.rows()
        assert {(r.status, r.error_code) for r in rows} == {("pending", "http_429")}
        clock.advance(seconds=max(r.next_attempt_at - clock.now() for r in rows).total_seconds())
        await dispatcher.run_once()
        assert {r.status for r in await notify.rows()} == {"sent"}
        # Refused before reaching NHN: the retry is one bulk request again, with no look-ups.
        assert [len(recipients(r)) for r in fake.sends("alimtalk")] == [4, 4]
        assert not [r for r in fake.requests if r.method == "GET"]


async def test_a_worker_dying_after_a_bulk_send_leaves_one_message_each_simulated_nhn(
    notify: Notify,
    people: StandInDirectory,
    notify_settings: NotifySettings,
    mock_client: MockClient,
    clock: ManualClock,
) -> None:
    await notify.plan([await people.citizen() for _ in range(3)])
    fake = SimulatedNhn()
    async with simulated_nhn(notify_settings, notify.sessions, mock_client, fake) as providers:
        crashed = notify.dispatcher(providers=providers)
        claims = await crashed.claim()
        # Its bulk request reached NHN; then the worker died before recording anything.
        bulk: Any = providers.for_channel("alimtalk")
        results = await bulk.send_many(
            [
                OutboundMessage(
                    idempotency_key=c.idempotency_key,
                    to="01012345678",
                    channel=c.outbound("01012345678").channel,
                    text=c.text,
                    template_code=c.template_code,
                    variables=c.variables,
                )
                for c in claims
            ]
        )
        assert all(r.accepted for r in results)
        clock.advance(seconds=61)  # the dead worker's lease ran out

        survivor = notify.dispatcher(providers=providers)
        assert await survivor.run_once() == 3
        rows = await notify.rows()
        assert {r.status for r in rows} == {"sent"}
        # Taken over: each looked up by its grouping key, found, not sent again.
        assert len(fake.sends("alimtalk")) == 1
        assert len([r for r in fake.requests if r.method == "GET"]) == 3
        assert {r.provider_message_id for r in rows} == {
            f"{rid}:{seq}" for rid, seq in fake.grouping_keys.values()
        }


async def test_bulk_sending_can_be_switched_off_one_request_per_message_simulated_nhn(
    notify: Notify,
    people: StandInDirectory,
    notify_settings: NotifySettings,
    mock_client: MockClient,
) -> None:
    await notify.plan([await people.citizen() for _ in range(3)])
    fake = SimulatedNhn()
    settings = NotifySettings(
        environment="test",
        database_url=notify_settings.database_url,
        nats_url=notify_settings.nats_url,
        bulk_send=False,
        **nhn_settings(),
    )
    async with build_providers(settings, notify.sessions, client=mock_client(fake.handle)) as built:
        await notify.dispatcher(providers=built).run_once()
    assert [len(recipients(r)) for r in fake.sends("alimtalk")] == [1, 1, 1]
    assert {r.status for r in await notify.rows()} == {"sent"}
