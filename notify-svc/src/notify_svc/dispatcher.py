"""The dispatcher (``notify-svc send``): takes due messages from the notification log and hands
them to the providers, exactly once per (event, recipient, channel).

One round:

1. **Fan-out.** Recipient jobs (a forum's participants, a role's staff) are expanded one page at
   a time; each page's rows and the job's cursor commit together.
2. **Claim.** Due rows (``pending``/``deferred`` whose time has come, and ``sending`` rows whose
   lease ran out because their worker died) are locked with ``FOR UPDATE SKIP LOCKED``, so that
   several dispatchers never take the same row. Opted-out citizens and channels they no longer
   accept are skipped; outside urgent messages, quiet hours (21:00 to 08:00 KST) defer the row to
   08:00 unless the citizen consented. The rest become ``sending`` with ``attempts + 1`` and a
   lease, and that **commits before any provider is called**.
3. **Send.** The phone number is fetched from identity-svc (memory only), the provider's token
   bucket is waited for, and the message goes out with its idempotency key.
4. **Record.** The result is written only if the row is still ours (same status and attempt):
   accepted → ``sent``; retryable (429, 5xx, timeouts) → ``pending`` again after exponential
   backoff with jitter, at least the provider's Retry-After, or ``dead`` after the last
   attempt; refused → ``failed``. A failed or dead AlimTalk queues its SMS/LMS fallback once.

A worker killed between 3 and 4 leaves the row ``sending``; after the lease another round sends
it again with the **same idempotency key**, which the provider answers "already accepted"
(NHN keeps keys for 10 minutes: the lease must stay well below that), and the row ends ``sent``
with the provider holding one message.

5. **Confirm.** ``sent`` rows whose confirmation is due are polled at their provider; webhooks
   usually get there first.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notify_svc import service
from notify_svc.directory import Contact, Directory, DirectoryUnavailable
from notify_svc.models import Notification, RecipientJob
from notify_svc.providers.base import (
    Channel,
    DeliveryReport,
    NotifyProvider,
    OutboundMessage,
    SendResult,
    mask_phone,
)
from notify_svc.quiet import QuietHours
from services.clock import Clock, SystemClock
from services.db import transaction

log = logging.getLogger(__name__)

#: Result codes after which a message may or may not have reached the provider.
UNKNOWN_OUTCOME = frozenset({"timeout", "connection_error", "provider_exception"})

#: Looks up whether a message already went out (by its idempotency key) at a provider that has
#: no idempotency key of its own; returns the provider's message id or None.
FindSent = Callable[[OutboundMessage], Awaitable[str | None]]


@dataclass(frozen=True)
class DispatchPolicy:
    """The dispatcher's numbers (from settings)."""

    batch_size: int = 50
    concurrency: int = 8
    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 6
    retry_base: float = 2.0
    retry_max: float = 900.0
    #: After acceptance, when to first ask the provider whether the message was delivered.
    confirm_after: float = 60.0
    #: How long to keep asking before leaving a message ``sent`` (accepted, fate unknown).
    confirm_for: timedelta = timedelta(days=1)
    quiet: QuietHours = field(default_factory=QuietHours)
    #: Page size of recipient look-ups (identity-svc and vote-svc allow up to 500).
    fanout_page: int = 500


class Providers:
    """Which provider sends each channel (AlimTalk and SMS/LMS may be different ones)."""

    def __init__(
        self,
        alimtalk: NotifyProvider,
        sms: NotifyProvider,
        *,
        finders: Mapping[str, FindSent] | None = None,
    ) -> None:
        self._finders = dict(finders or {})
        self._by_channel: dict[Channel, NotifyProvider] = {
            Channel.ALIMTALK: alimtalk,
            Channel.SMS: sms,
            Channel.LMS: sms,
        }
        self._by_name: dict[str, NotifyProvider] = {alimtalk.name: alimtalk, sms.name: sms}

    def for_channel(self, channel: str) -> NotifyProvider:
        """The provider that sends ``channel``."""
        return self._by_channel[Channel(channel)]

    def named(self, name: str) -> NotifyProvider | None:
        """The configured provider called ``name`` (webhooks are addressed by name)."""
        return self._by_name.get(name)

    def finder(self, name: str) -> FindSent | None:
        """How to look up an earlier send at provider ``name`` that has no idempotency key of
        its own (None: the provider recognises a repeated key by itself)."""
        return self._finders.get(name)

    @property
    def names(self) -> list[str]:
        """Names of the configured providers."""
        return sorted(self._by_name)


@dataclass(frozen=True)
class _Claim:
    """What a claimed row needs for sending, read while the claim was taken."""

    id: uuid.UUID
    citizen_id: uuid.UUID
    channel: str
    template_code: str
    variables: dict[str, str]
    text: str
    title: str | None
    idempotency_key: str
    attempts: int
    provider: str


#: Called after a provider accepted a message and before the result is recorded (fault tests).
AfterSendHook = Callable[[_Claim, SendResult], Awaitable[None]]


def crash_after_send_hook() -> AfterSendHook:
    """The fault hook of ``NOTIFY_FAULT_CRASH_AFTER_SEND``: SIGKILL this process right after a
    provider accepted a message, before the row is marked ``sent`` (never in production: the
    settings refuse it)."""

    async def hook(claim: _Claim, result: SendResult) -> None:
        if result.accepted:
            log.warning("fault hook: killing the dispatcher after sending %s", claim.id)
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


class Dispatcher:
    """Sends due messages; see the module doc. Run one or more per deployment."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        providers: Providers,
        directory: Directory,
        policy: DispatchPolicy | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        after_send: AfterSendHook | None = None,
    ) -> None:
        self._sessions = sessions
        self._providers = providers
        self._directory = directory
        self._policy = policy or DispatchPolicy()
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._after_send = after_send

    # -- one round -----------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Expand due fan-outs, send one batch of due messages, confirm due deliveries; returns
        how many messages were claimed for sending."""
        await self.expand_recipients()
        claims = await self.claim()
        if claims:
            gate = asyncio.Semaphore(self._policy.concurrency)

            async def guarded(claim: _Claim) -> None:
                async with gate:
                    await self.deliver(claim)

            await asyncio.gather(*(guarded(c) for c in claims))
        await self.confirm()
        return len(claims)

    async def run(self, stop: asyncio.Event, *, idle: float = 0.5) -> None:
        """Rounds until ``stop`` is set; a failing round is logged and retried."""
        while not stop.is_set():
            try:
                claimed = await self.run_once()
            except Exception:
                log.exception("dispatcher round failed; retrying")
                claimed = 0
                await _sleep_or_stop(stop, 1.0)
            if claimed < self._policy.batch_size:
                await _sleep_or_stop(stop, idle)

    # -- fan-out -------------------------------------------------------------------------------

    async def expand_recipients(self, *, max_jobs: int = 5) -> int:
        """Expand up to ``max_jobs`` due recipient jobs by one page each; returns rows planned."""
        planned = 0
        for _ in range(max_jobs):
            now = self._clock.now()
            async with transaction(self._sessions) as session:
                job = await session.scalar(
                    select(RecipientJob)
                    .where(RecipientJob.done.is_(False), RecipientJob.next_attempt_at <= now)
                    .order_by(RecipientJob.next_attempt_at)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
                if job is None:
                    return planned
                try:
                    page = await self._recipients(job)
                except DirectoryUnavailable as exc:
                    job.attempts += 1
                    job.last_error = str(exc)[:500]
                    job.next_attempt_at = now + timedelta(seconds=self._backoff(job.attempts))
                    log.warning("fan-out %s/%s: %s; retrying", job.kind, job.event_id, exc)
                    continue
                planned += await service.plan(
                    session,
                    event_id=job.event_id,
                    event_type=job.event_type,
                    citizen_ids=page.citizen_ids,
                    message=service.Message.from_params(job.params["message"]),
                    now=now,
                )
                job.recipients += len(page.citizen_ids)
                job.cursor = page.next_cursor
                job.done = page.next_cursor is None
                job.attempts = 0
                job.last_error = None
        return planned

    async def _recipients(self, job: RecipientJob) -> Any:
        params = job.params
        if job.kind == "forum_participants":
            return await self._directory.forum_participants(
                uuid.UUID(params["forum_id"]), job.cursor, self._policy.fanout_page
            )
        if job.kind == "staff":
            return await self._directory.staff(
                params["role"], params.get("department"), job.cursor, self._policy.fanout_page
            )
        raise ValueError(f"unknown recipient job kind {job.kind!r}")

    # -- claim ---------------------------------------------------------------------------------

    async def claim(self) -> list[_Claim]:
        """Lock a batch of due rows, decide what happens to each and commit: returns the rows
        now ``sending`` (owned by this worker until the lease ends)."""
        now = self._clock.now()
        claims: list[_Claim] = []
        async with transaction(self._sessions) as session:
            rows = list(
                await session.scalars(
                    select(Notification)
                    .where(
                        or_(
                            and_(
                                Notification.status.in_(("pending", "deferred")),
                                Notification.next_attempt_at <= now,
                            ),
                            and_(
                                Notification.status == "sending",
                                Notification.lease_until <= now,
                            ),
                        )
                    )
                    .order_by(Notification.next_attempt_at)
                    .limit(self._policy.batch_size)
                    .with_for_update(skip_locked=True)
                )
            )
            if not rows:
                return []
            preferences = await service.preferences_of(session, (r.citizen_id for r in rows))
            for row in rows:
                preference = preferences.get(row.citizen_id)
                # A row found ``sending`` may have reached the provider already: it is sent
                # again at once with its key (never deferred or skipped), so that the provider
                # can answer "already accepted" within its idempotency window.
                if row.status != "sending":
                    if preference is not None and preference.opt_out:
                        service.mark_skipped(row, "opted_out", now)
                        continue
                    allowed = service.allowed_channels(preference)
                    wanted = "alimtalk" if row.channel == Channel.ALIMTALK else "sms"
                    if wanted not in allowed:
                        service.mark_skipped(row, "channel_not_allowed", now)
                        await service.queue_fallback(session, row, now)
                        continue
                    night_ok = row.urgent or (preference is not None and preference.night_consent)
                    # An attempt whose outcome is unknown (it may have gone out) is retried at
                    # once, like a taken-over row: deferred past the provider's idempotency
                    # window, a retry could send it twice.
                    night_ok = night_ok or row.error_code in UNKNOWN_OUTCOME
                    resume_at = None if night_ok else self._policy.quiet.defer(now)
                    if resume_at is not None:
                        row.status = "deferred"
                        row.next_attempt_at = resume_at
                        row.updated_at = now
                        continue
                provider = self._providers.for_channel(row.channel)
                row.status = "sending"
                row.attempts += 1
                row.lease_until = now + self._policy.lease
                row.provider = provider.name
                row.updated_at = now
                claims.append(
                    _Claim(
                        id=row.id,
                        citizen_id=row.citizen_id,
                        channel=row.channel,
                        template_code=row.template_code,
                        variables={str(k): str(v) for k, v in row.variables.items()},
                        text=row.text,
                        title=row.title,
                        idempotency_key=row.idempotency_key,
                        attempts=row.attempts,
                        provider=provider.name,
                    )
                )
        return claims

    # -- send and record ---------------------------------------------------------------------

    async def deliver(self, claim: _Claim) -> None:
        """Send one claimed message and record the outcome (errors are recorded, not raised)."""
        try:
            contact = await self._directory.contact(claim.citizen_id)
        except DirectoryUnavailable as exc:
            await self._record(
                claim,
                SendResult(
                    claim.idempotency_key,
                    accepted=False,
                    retryable=True,
                    error_code="directory_unavailable",
                    error_message=str(exc)[:500],
                ),
            )
            return
        skip = _skip_reason(contact)
        if skip is not None:
            await self._skip(claim, skip)
            return
        assert contact.phone is not None
        provider = self._providers.for_channel(claim.channel)
        message = OutboundMessage(
            idempotency_key=claim.idempotency_key,
            to=contact.phone,
            channel=Channel(claim.channel),
            text=claim.text,
            # Our code: the adapters map it to the code registered at Kakao / the provider.
            template_code=claim.template_code if claim.channel == Channel.ALIMTALK else None,
            variables=claim.variables if claim.channel == Channel.ALIMTALK else {},
            title=claim.title,
        )
        try:
            result = await self._earlier_send(provider.name, message, claim)
            if result is None:
                result = await provider.send(message)
        except Exception as exc:
            # Adapters return failures; anything raised is a bug or a misconfiguration. The
            # message may or may not have left: retry with the same key.
            log.exception("provider %s raised on %s", provider.name, claim.id)
            result = SendResult(
                claim.idempotency_key,
                accepted=False,
                retryable=True,
                error_code="provider_exception",
                error_message=type(exc).__name__,
            )
        if result.accepted:
            log.info(
                "sent %s via %s/%s to %s%s",
                claim.id,
                provider.name,
                claim.channel,
                mask_phone(contact.phone),
                " (already accepted)" if result.already_accepted else "",
            )
        if self._after_send is not None:
            await self._after_send(claim, result)
        await self._record(claim, result)

    async def _earlier_send(
        self, provider: str, message: OutboundMessage, claim: _Claim
    ) -> SendResult | None:
        """On a retry through a provider without idempotency keys, the earlier attempt may have
        gone out (its outcome was lost): look for it before sending again."""
        finder = self._providers.finder(provider)
        if finder is None or claim.attempts <= 1:
            return None
        found = await finder(message)
        if found is None:
            return None
        log.info("notification %s: found the earlier send %s at %s", claim.id, found, provider)
        return SendResult(
            claim.idempotency_key, accepted=True, provider_message_id=found, already_accepted=True
        )

    async def _owned(self, session: AsyncSession, claim: _Claim) -> Notification | None:
        """The row, locked, if it is still ``sending`` under this claim (a lease that ran out
        may have let another worker take it over)."""
        row = await session.get(Notification, claim.id, with_for_update=True)
        if row is None or row.status != "sending" or row.attempts != claim.attempts:
            log.warning("notification %s was taken over; dropping a stale result", claim.id)
            return None
        return row

    async def _skip(self, claim: _Claim, reason: str) -> None:
        now = self._clock.now()
        async with transaction(self._sessions) as session:
            row = await self._owned(session, claim)
            if row is None:
                return
            service.mark_skipped(row, reason, now)
        log.info("skipped %s: %s", claim.id, reason)

    async def _record(self, claim: _Claim, result: SendResult) -> None:
        now = self._clock.now()
        async with transaction(self._sessions) as session:
            row = await self._owned(session, claim)
            if row is None:
                return
            if result.accepted:
                await service.mark_sent(
                    session,
                    row,
                    provider=claim.provider,
                    provider_message_id=result.provider_message_id,
                    now=now,
                    confirm_after=self._policy.confirm_after,
                )
                return
            if result.retryable and row.attempts < self._policy.max_attempts:
                delay = max(self._backoff(row.attempts), result.retry_after or 0.0)
                row.status = "pending"
                row.next_attempt_at = now + timedelta(seconds=delay)
                row.lease_until = None
                row.updated_at = now
                row.error_code = result.error_code
                row.error_message = result.error_message
                log.warning(
                    "notification %s: %s (attempt %d), retry in %.1fs",
                    claim.id,
                    result.error_code,
                    row.attempts,
                    delay,
                )
                return
            if result.retryable:
                log.error(
                    "notification %s: dead after %d attempts (%s)",
                    claim.id,
                    row.attempts,
                    result.error_code,
                )
                await service.mark_dead(
                    session, row, code=result.error_code, message=result.error_message, now=now
                )
                return
            log.warning("notification %s refused: %s", claim.id, result.error_code)
            await service.mark_failed(
                session,
                row,
                reason="rejected",
                code=result.error_code,
                message=result.error_message,
                now=now,
            )

    def _backoff(self, attempts: int) -> float:
        """Exponential backoff with "equal jitter": half the step fixed, half random."""
        step = min(self._policy.retry_max, self._policy.retry_base * 2.0 ** max(0, attempts - 1))
        return step / 2 + self._rng.uniform(0, step / 2)

    # -- confirm -------------------------------------------------------------------------------

    async def confirm(self, *, batch: int = 100) -> int:
        """Poll providers for ``sent`` messages whose confirmation is due; returns reports applied."""
        now = self._clock.now()
        async with transaction(self._sessions) as session:
            rows = list(
                await session.scalars(
                    select(Notification)
                    .where(
                        Notification.status == "sent",
                        Notification.next_attempt_at <= now,
                        Notification.provider_message_id.is_not(None),
                    )
                    .order_by(Notification.next_attempt_at)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            )
            by_provider: dict[str, list[Notification]] = {}
            for row in rows:
                too_old = row.sent_at is not None and now - row.sent_at > self._policy.confirm_for
                if too_old or row.provider is None:
                    # Stop asking: accepted, fate unknown (the row stays ``sent``).
                    row.next_attempt_at = now + timedelta(days=3650)
                    continue
                waited = (now - (row.sent_at or now)).total_seconds()
                row.next_attempt_at = now + timedelta(
                    seconds=max(self._policy.confirm_after, waited)
                )
                by_provider.setdefault(row.provider, []).append(row)
        applied = 0
        for name, sent in by_provider.items():
            provider = self._providers.named(name)
            if provider is None:
                continue
            try:
                reports = await provider.poll([r.provider_message_id or "" for r in sent])
            except Exception:
                log.exception("polling %s failed; asking again later", name)
                continue
            applied += await self.apply_reports(name, reports)
        return applied

    async def apply_reports(self, provider: str, reports: Sequence[DeliveryReport]) -> int:
        """Record delivery reports (from a poll) and apply them; returns how many matched."""
        if not reports:
            return 0
        now = self._clock.now()
        matched = 0
        async with transaction(self._sessions) as session:
            for report in reports:
                matched += await service.record_report(session, provider, report, now)
        return matched


def _skip_reason(contact: Contact) -> str | None:
    """Why nothing can be sent to this contact (None: send)."""
    if contact.status != "active":
        # Unknown to identity-svc, or suspended (the number may not be theirs any more).
        return f"citizen_{contact.status}"
    if contact.phone is None:
        return "no_phone"
    return None


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


def describe(providers: Providers, policy: DispatchPolicy) -> Mapping[str, Any]:
    """A log-friendly summary of the dispatcher's configuration."""
    return {
        "providers": providers.names,
        "batch_size": policy.batch_size,
        "lease_seconds": policy.lease.total_seconds(),
        "max_attempts": policy.max_attempts,
    }
