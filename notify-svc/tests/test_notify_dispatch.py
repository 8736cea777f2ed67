"""The dispatcher against real PostgreSQL, the directory's signed internal endpoint (phone numbers;
the stand-in of identity-svc's contract, standin_directory.py) and either the dev provider or NHN Cloud simulated from its documented HTTP
API with httpx.MockTransport."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from notify_helpers import (
    PHONE_DIGITS,
    MockClient,
    Notify,
    Sessions,
    SimulatedNhn,
    nhn_refusal,
    nhn_settings,
)
from sqlalchemy import select
from standin_directory import StandInDirectory

from notify_svc.config import NotifySettings
from notify_svc.dispatch.policy import DispatchPolicy
from notify_svc.dispatch.providers import Providers
from notify_svc.encoding import SMS_MAX_BYTES, cp949_length, is_cp949
from notify_svc.models import Notification, OutboxMessage, Preference
from notify_svc.providers.base import Channel, DeliveryReport, OutboundMessage, SendResult
from notify_svc.providers.dev import DevProvider
from notify_svc.quiet import KST
from notify_svc.registry import build_providers
from notify_svc.service import planning, preferences
from services.db import transaction


@contextlib.asynccontextmanager
async def simulated_nhn(
    notify_settings: NotifySettings, sessions: Sessions, mock_client: MockClient, fake: SimulatedNhn
) -> AsyncIterator[Providers]:
    """The composition root's providers for NHN Cloud, talking to the simulation."""
    settings = NotifySettings(
        environment="test",
        database_url=notify_settings.database_url,
        nats_url=notify_settings.nats_url,
        **nhn_settings(),
    )
    async with build_providers(settings, sessions, client=mock_client(fake.handle)) as providers:
        yield providers


async def set_preferences(
    notify: Notify,
    citizen_id: uuid.UUID,
    *,
    channels: tuple[str, ...] = ("alimtalk", "sms"),
    opt_out: bool = False,
    night_consent: bool = False,
) -> None:
    async with transaction(notify.sessions) as session:
        await preferences.put_preferences(
            session,
            citizen_id,
            channels=channels,
            opt_out=opt_out,
            night_consent=night_consent,
            now=notify.clock.now(),
        )


async def outbox_types(notify: Notify) -> list[str]:
    async with notify.sessions() as session:
        rows = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.seq))
        return [str(r.envelope["type"]) for r in rows]


class CountingProvider:
    """Wraps a provider and counts what was handed to it per idempotency key."""

    def __init__(self, inner: DevProvider) -> None:
        self.inner = inner
        self.name = inner.name
        self.channels = inner.channels
        self.calls: dict[str, int] = {}

    async def send(self, message: OutboundMessage) -> SendResult:
        self.calls[message.idempotency_key] = self.calls.get(message.idempotency_key, 0) + 1
        await asyncio.sleep(0.01)  # let the racing dispatcher interleave
        return await self.inner.send(message)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[DeliveryReport]:
        raise NotImplementedError

    async def poll(self, provider_message_ids: Sequence[str]) -> list[DeliveryReport]:
        return []


async def test_dev_provider_send_then_poll_reports_delivered(
    notify: Notify, people: StandInDirectory
) -> None:
    citizen = await people.citizen()
    event_id = await notify.plan([citizen])
    dispatcher = notify.dispatcher()

    assert await dispatcher.run_once() == 1
    row = await notify.one()
    assert (row.status, row.channel, row.attempts, row.provider) == ("sent", "alimtalk", 1, "dev")
    assert row.idempotency_key == planning.idempotency_key(event_id, citizen, "alimtalk")
    [stored] = await notify.dev_messages()
    assert stored.to_masked == "010-****-5678"
    assert stored.idempotency_key == row.idempotency_key
    assert stored.template_code == "PROPOSAL_ANSWERED"
    assert "따릉이 대여소를 늘려주세요" in stored.text

    # Confirmation is polled once it is due.
    notify.clock.advance(seconds=61)
    await dispatcher.run_once()
    row = await notify.one()
    assert row.status == "delivered"
    assert row.delivered_at is not None
    assert await outbox_types(notify) == ["kr.seoul.democracy.notify.delivered.v1"]


async def test_two_dispatchers_racing_send_each_message_exactly_once(
    notify: Notify, people: StandInDirectory
) -> None:
    citizens = [await people.citizen() for _ in range(12)]
    await notify.plan(citizens)
    await notify.plan(citizens)  # a second event: 24 messages in all
    counting = CountingProvider(notify.dev)
    small = DispatchPolicy(batch_size=5, concurrency=3)
    first = notify.dispatcher(counting, counting, policy=small)
    second = notify.dispatcher(counting, counting, policy=small)

    for _ in range(10):
        claimed = await asyncio.gather(first.run_once(), second.run_once())
        if not any(claimed):
            break

    rows = await notify.rows()
    assert len(rows) == 24
    assert {r.status for r in rows} == {"sent"}
    assert {r.attempts for r in rows} == {1}
    assert sorted(counting.calls.values()) == [1] * 24
    assert len(await notify.dev_messages()) == 24


async def test_a_send_cut_short_by_a_crash_is_resent_with_the_same_key_after_the_lease(
    notify: Notify, people: StandInDirectory
) -> None:
    citizen = await people.citizen()
    await notify.plan([citizen])
    crashed = notify.dispatcher()
    # The crashed worker claimed the row and its send reached the provider; then it died.
    [claim] = await crashed.claim()
    accepted = await notify.dev.send(
        OutboundMessage(
            idempotency_key=claim.idempotency_key,
            to=PHONE_DIGITS,
            channel=Channel(claim.channel),
            text=claim.text,
        )
    )
    assert accepted.accepted

    survivor = notify.dispatcher()
    assert await survivor.run_once() == 0  # still leased to the dead worker
    assert (await notify.one()).status == "sending"

    notify.clock.advance(seconds=61)
    assert await survivor.run_once() == 1
    row = await notify.one()
    assert (row.status, row.attempts) == ("sent", 2)
    assert row.provider_message_id == accepted.provider_message_id
    assert len(await notify.dev_messages()) == 1


async def test_a_stale_result_never_overwrites_the_worker_that_took_over(
    notify: Notify, people: StandInDirectory
) -> None:
    citizen = await people.citizen()
    await notify.plan([citizen])
    slow = notify.dispatcher()
    [old_claim] = await slow.claim()
    notify.clock.advance(seconds=61)
    fast = notify.dispatcher()
    assert await fast.run_once() == 1
    # The slow worker comes back with a refusal: the row the other worker sent stays sent.
    await slow._record(old_claim, SendResult(old_claim.idempotency_key, accepted=False))
    assert (await notify.one()).status == "sent"


async def test_alimtalk_refused_falls_back_to_sms_once_simulated_nhn_mock_transport(
    notify: Notify,
    people: StandInDirectory,
    notify_settings: NotifySettings,
    sessions: Sessions,
    mock_client: MockClient,
) -> None:
    citizen = await people.citizen()
    await notify.plan([citizen])
    fake = SimulatedNhn(alimtalk_script=[nhn_refusal(-3010, "template mismatch")])
    async with simulated_nhn(notify_settings, sessions, mock_client, fake) as providers:
        dispatcher = notify.dispatcher(providers=providers)
        await dispatcher.run_once()
        alimtalk = await notify.one(channel="alimtalk")
        assert (alimtalk.status, alimtalk.error_code) == ("failed", "-3010")
        fallback = await notify.one(fallback_of=alimtalk.id)
        assert fallback.channel in ("sms", "lms")
        for _ in range(3):
            await dispatcher.run_once()

    fallback = await notify.one(fallback_of=alimtalk.id)
    assert fallback.status == "sent"
    assert fallback.idempotency_key == planning.idempotency_key(
        alimtalk.event_id, citizen, fallback.channel
    )
    assert len(fake.sends("alimtalk")) == 1
    [sms] = fake.sends("sms")
    body = sms.read().decode()
    assert PHONE_DIGITS in body  # the provider gets the number; we never keep it
    assert len(await notify.rows()) == 2
    assert await outbox_types(notify) == ["kr.seoul.democracy.notify.failed.v1"]


async def test_429_backs_off_for_retry_after_then_succeeds_simulated_nhn_mock_transport(
    notify: Notify,
    people: StandInDirectory,
    notify_settings: NotifySettings,
    sessions: Sessions,
    mock_client: MockClient,
) -> None:
    citizen = await people.citizen()
    await set_preferences(notify, citizen, channels=("sms",))
    await notify.plan([citizen])
    fake = SimulatedNhn(
        sms_script=[httpx.Response(429, headers={"Retry-After": "7"}, json={"header": {}})]
    )
    async with simulated_nhn(notify_settings, sessions, mock_client, fake) as providers:
        dispatcher = notify.dispatcher(providers=providers, rng=random.Random(1))
        start = notify.clock.now()
        await dispatcher.run_once()
        row = await notify.one()
        assert (row.status, row.error_code, row.attempts) == ("pending", "http_429", 1)
        assert row.next_attempt_at == start + timedelta(seconds=7)

        notify.clock.advance(seconds=6.9)
        assert await dispatcher.run_once() == 0
        notify.clock.advance(seconds=0.1)
        assert await dispatcher.run_once() == 1

    row = await notify.one()
    assert (row.status, row.attempts, row.channel) == ("sent", 2, "sms")
    assert len(fake.sends("sms")) == 2
    # Before sending again, the earlier attempt was looked up by its key (SMS has no
    # server-side idempotency key).
    lookups = [r for r in fake.requests if r.method == "GET"]
    assert len(lookups) == 1
    assert lookups[0].url.params["recipientGroupingKey"] == row.idempotency_key


async def test_server_errors_back_off_exponentially_with_jitter_then_go_dead(
    notify: Notify,
    people: StandInDirectory,
    notify_settings: NotifySettings,
    sessions: Sessions,
    mock_client: MockClient,
) -> None:
    citizen = await people.citizen()
    await notify.plan([citizen])
    fake = SimulatedNhn(alimtalk_script=[httpx.Response(503) for _ in range(4)])
    policy = DispatchPolicy(max_attempts=4, retry_base=2.0)
    async with simulated_nhn(notify_settings, sessions, mock_client, fake) as providers:
        dispatcher = notify.dispatcher(providers=providers, policy=policy, rng=random.Random(7))
        delays = []
        for _ in range(3):
            before = notify.clock.now()
            await dispatcher.run_once()
            row = await notify.one(channel="alimtalk")
            assert row.status == "pending"
            delays.append((row.next_attempt_at - before).total_seconds())
            notify.clock.set(row.next_attempt_at)
        # Attempt n waits between half and all of 2 * 2^(n-1) seconds.
        for n, delay in enumerate(delays, start=1):
            step = 2.0 * 2 ** (n - 1)
            assert step / 2 <= delay <= step
        await dispatcher.run_once()  # the 4th attempt fails too: dead
        dead = await notify.one(channel="alimtalk")
        assert (dead.status, dead.attempts, dead.error_code) == ("dead", 4, "http_503")
        # The citizen is told anyway, by SMS.
        await dispatcher.run_once()
    assert (await notify.one(fallback_of=dead.id)).status == "sent"
    assert "kr.seoul.democracy.notify.dead_lettered.v1" in await outbox_types(notify)


async def test_quiet_hours_defer_non_urgent_messages_to_8_kst(
    notify: Notify, people: StandInDirectory
) -> None:
    sleeper, night_owl, urgent_one = [await people.citizen() for _ in range(3)]
    await set_preferences(notify, night_owl, night_consent=True)
    notify.clock.set(datetime(2026, 11, 25, 22, 30, tzinfo=KST))
    await notify.plan([sleeper, night_owl])
    await notify.plan([urgent_one], urgent=True)
    dispatcher = notify.dispatcher()

    assert await dispatcher.run_once() == 2
    deferred = await notify.one(citizen_id=sleeper)
    assert deferred.status == "deferred"
    assert deferred.next_attempt_at == datetime(2026, 11, 26, 8, 0, tzinfo=KST)
    assert (await notify.one(citizen_id=night_owl)).status == "sent"
    assert (await notify.one(citizen_id=urgent_one)).status == "sent"

    notify.clock.set(datetime(2026, 11, 26, 7, 59, tzinfo=KST))
    assert await dispatcher.run_once() == 0
    notify.clock.set(datetime(2026, 11, 26, 8, 0, tzinfo=KST))
    assert await dispatcher.run_once() == 1
    assert (await notify.one(citizen_id=sleeper)).status == "sent"
    assert len(await notify.dev_messages()) == 3


async def test_opted_out_citizens_are_logged_as_skipped_and_sent_nothing(
    notify: Notify, people: StandInDirectory
) -> None:
    early, late = await people.citizen(), await people.citizen()
    await set_preferences(notify, early, opt_out=True)
    await notify.plan([early, late])
    assert (await notify.one(citizen_id=early)).skip_reason == "opted_out"
    # Opting out after the message was planned still stops it.
    await set_preferences(notify, late, opt_out=True)
    await notify.dispatcher().run_once()

    rows = await notify.rows()
    assert [(r.status, r.skip_reason) for r in rows] == [("skipped", "opted_out")] * 2
    assert await notify.dev_messages() == []


async def test_sms_only_citizens_get_an_sms_without_emoji(
    notify: Notify, people: StandInDirectory
) -> None:
    citizen = await people.citizen()
    await set_preferences(notify, citizen, channels=("sms",))
    await notify.plan(
        [citizen], variables={"제안제목": "따릉이 🚲 늘려주세요 👍🏻", "답변주체": "담당 부서"}
    )
    await notify.dispatcher().run_once()
    row = await notify.one()
    assert (row.channel, row.status, row.fallback_text) == ("sms", "sent", None)
    assert is_cp949(row.text)
    assert cp949_length(row.text) <= SMS_MAX_BYTES
    assert "따릉이  늘려주세요" in row.text


async def test_citizens_without_a_number_or_unknown_are_skipped(
    notify: Notify, people: StandInDirectory
) -> None:
    unknown = uuid.uuid4()
    await notify.plan([unknown])
    await notify.dispatcher().run_once()
    row = await notify.one()
    assert (row.status, row.skip_reason) == ("skipped", "citizen_unknown")
    assert await notify.dev_messages() == []


async def test_an_unreachable_identity_service_delays_but_loses_nothing(
    notify: Notify, people: StandInDirectory, notify_settings: NotifySettings
) -> None:
    from notify_svc.directory import HttpDirectory

    citizen = await people.citizen()
    await notify.plan([citizen])

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    broken = HttpDirectory(
        identity_url="http://identity-svc",
        vote_url="http://vote-svc",
        key=notify_settings.service_key_bytes,
        identity_transport=httpx.MockTransport(down),
        vote_transport=httpx.MockTransport(down),
    )
    try:
        dispatcher = notify.dispatcher(directory=broken)
        await dispatcher.run_once()
    finally:
        await broken.aclose()
    row = await notify.one()
    assert (row.status, row.error_code) == ("pending", "directory_unavailable")
    notify.clock.set(row.next_attempt_at)
    await notify.dispatcher().run_once()
    assert (await notify.one()).status == "sent"


async def test_a_refused_channel_is_skipped_and_its_fallback_sent(
    notify: Notify, people: StandInDirectory
) -> None:
    citizen = await people.citizen()
    await notify.plan([citizen])
    await set_preferences(notify, citizen, channels=("sms",))  # after planning AlimTalk
    dispatcher = notify.dispatcher()
    await dispatcher.run_once()
    await dispatcher.run_once()
    alimtalk = await notify.one(channel="alimtalk")
    assert (alimtalk.status, alimtalk.skip_reason) == ("skipped", "channel_not_allowed")
    assert (await notify.one(fallback_of=alimtalk.id)).status == "sent"
    [message] = await notify.dev_messages()
    assert message.channel in ("sms", "lms")


@pytest.mark.parametrize("hour", [21, 23, 0, 7])
def test_quiet_window_edges(hour: int) -> None:
    from notify_svc.quiet import QuietHours

    quiet = QuietHours()
    at = datetime(2026, 11, 25, hour, 0, tzinfo=KST)
    assert quiet.contains(at)
    resume = quiet.defer(at)
    assert resume is not None
    assert resume.astimezone(KST).hour == 8
    assert resume > at
    assert resume - at <= timedelta(hours=11)
    assert quiet.defer(datetime(2026, 11, 25, 8, 0, tzinfo=KST)) is None
    assert quiet.defer(datetime(2026, 11, 25, 20, 59, tzinfo=KST)) is None
    assert quiet.contains(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))  # 21:00 KST


async def test_preferences_are_kept_per_citizen(notify: Notify) -> None:
    citizen = uuid.uuid4()
    await set_preferences(notify, citizen, channels=("sms", "sms"), night_consent=True)
    async with notify.sessions() as session:
        stored = await session.get(Preference, citizen)
    assert stored is not None
    assert (stored.channels, stored.night_consent) == (["sms"], True)
    assert await notify.count(Notification) == 0


async def test_a_retry_whose_first_attempt_may_have_gone_out_is_not_deferred_past_the_key(
    notify: Notify, people: StandInDirectory
) -> None:
    timed_out, refused = await people.citizen(), await people.citizen()
    await notify.plan([timed_out, refused])
    async with transaction(notify.sessions) as session:
        for row in await session.scalars(select(Notification)):
            row.attempts = 1
            row.error_code = "timeout" if row.citizen_id == timed_out else "http_503"
    notify.clock.set(datetime(2026, 11, 25, 21, 0, 5, tzinfo=KST))
    await notify.dispatcher().run_once()
    # The timed-out send may have reached the provider: retried now with its key, which the
    # provider still remembers; the 503 certainly did not and waits for the morning.
    assert (await notify.one(citizen_id=timed_out)).status == "sent"
    assert (await notify.one(citizen_id=refused)).status == "deferred"
