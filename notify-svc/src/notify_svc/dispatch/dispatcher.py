"""The rounds of the dispatcher (see the package doc): it owns their transactions, the use cases
(``notify_svc.service``) change the rows."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notify_svc import repository
from notify_svc.directory import Contact, Directory, DirectoryUnavailable, Page
from notify_svc.dispatch.claims import Claim, Ready, partition
from notify_svc.dispatch.policy import DispatchPolicy, verdict
from notify_svc.dispatch.providers import Providers
from notify_svc.models import Notification, RecipientJob
from notify_svc.providers.base import (
    BulkProvider,
    DeliveryReport,
    NotifyProvider,
    OutboundMessage,
    SendResult,
    mask_phone,
)
from notify_svc.service import delivery, planning
from services.clock import Clock, SystemClock
from services.db import transaction
from services.periodic import periodic

log = logging.getLogger(__name__)


#: Called after a provider accepted a message and before the result is recorded (fault tests).
AfterSendHook = Callable[[Claim, SendResult], Awaitable[None]]


def crash_after_send_hook() -> AfterSendHook:
    """The fault hook of ``NOTIFY_FAULT_CRASH_AFTER_SEND``: SIGKILL this process right after a
    provider accepted a message, before the row is marked ``sent`` (never in production: the
    settings refuse it)."""

    async def hook(claim: Claim, result: SendResult) -> None:
        if result.accepted:
            log.warning("fault hook: killing the dispatcher after sending %s", claim.id)
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


class Dispatcher:
    """Sends due messages; see the package doc. Run one or more per deployment."""

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
            await self.deliver_all(claims)
        await self.confirm()
        return len(claims)

    async def run(self, stop: asyncio.Event, *, idle: float = 0.5) -> None:
        """Rounds until ``stop`` is set: the next one at once after a full batch, after ``idle``
        seconds otherwise; a failing round is logged and retried a second later."""
        claimed: int | None = 0

        async def round_() -> None:
            nonlocal claimed
            claimed = None  # stays None when the round raises
            claimed = await self.run_once()

        def pause() -> float:
            if claimed is None:
                return 1.0 + idle
            return idle if claimed < self._policy.batch_size else 0.0

        await periodic(stop, pause, round_, name="dispatcher round")

    # -- fan-out -------------------------------------------------------------------------------

    async def expand_recipients(self, *, max_jobs: int = 5) -> int:
        """Expand up to ``max_jobs`` due recipient jobs by one page each; returns rows planned."""
        planned = 0
        for _ in range(max_jobs):
            now = self._clock.now()
            async with transaction(self._sessions) as session:
                job = await repository.next_due_job(session, now)
                if job is None:
                    return planned
                try:
                    page = await self._recipients(job)
                except DirectoryUnavailable as exc:
                    job.attempts += 1
                    job.last_error = str(exc)[:500]
                    delay = self._policy.backoff(job.attempts, self._rng)
                    job.next_attempt_at = now + timedelta(seconds=delay)
                    log.warning("fan-out %s/%s: %s; retrying", job.kind, job.event_id, exc)
                    continue
                planned += await planning.plan(
                    session,
                    event_id=job.event_id,
                    event_type=job.event_type,
                    citizen_ids=page.citizen_ids,
                    message=planning.Message.from_params(job.params["message"]),
                    now=now,
                )
                job.recipients += len(page.citizen_ids)
                job.cursor = page.next_cursor
                job.done = page.next_cursor is None
                job.attempts = 0
                job.last_error = None
        return planned

    async def _recipients(self, job: RecipientJob) -> Page:
        params = job.params
        if job.kind == "forum_participants":
            return await self._directory.forum_participants(
                uuid.UUID(params["forum_id"]), job.cursor, self._policy.fanout_page
            )
        if job.kind == "proposal_followers":
            return await self._directory.proposal_followers(
                uuid.UUID(params["proposal_id"]), job.cursor, self._policy.followers_page
            )
        if job.kind == "staff":
            return await self._directory.staff(
                params["role"], params.get("department"), job.cursor, self._policy.fanout_page
            )
        raise ValueError(f"unknown recipient job kind {job.kind!r}")

    # -- claim ---------------------------------------------------------------------------------

    async def claim(self) -> list[Claim]:
        """Lock a batch of due rows, decide what happens to each and commit: returns the rows
        now ``sending`` (owned by this worker until the lease ends)."""
        now = self._clock.now()
        claims: list[Claim] = []
        async with transaction(self._sessions) as session:
            rows = await repository.due_for_sending(session, now, self._policy.batch_size)
            if not rows:
                return []
            preferences = await repository.preferences_of(session, (r.citizen_id for r in rows))
            for row in rows:
                decided, resume_at = verdict(
                    row, preferences.get(row.citizen_id), now, self._policy.quiet
                )
                if decided == "opted_out":
                    delivery.mark_skipped(row, "opted_out", now)
                elif decided == "channel_not_allowed":
                    delivery.mark_skipped(row, "channel_not_allowed", now)
                    await delivery.queue_fallback(session, row, now)
                elif decided == "defer":
                    assert resume_at is not None
                    delivery.mark_deferred(row, resume_at, now)
                else:
                    provider = self._providers.for_channel(row.channel)
                    taken_over = row.status == "sending"
                    delivery.mark_sending(
                        row, provider=provider.name, lease=self._policy.lease, now=now
                    )
                    claims.append(Claim.of(row, provider.name, taken_over=taken_over))
        return claims

    # -- send and record ---------------------------------------------------------------------

    async def deliver_all(self, claims: Sequence[Claim]) -> None:
        """Send claimed messages and record the outcomes: phone numbers looked up and messages
        sent at most ``concurrency`` at a time, messages of one template to a provider with a
        bulk API in requests of many (:func:`~notify_svc.dispatch.claims.partition`)."""
        gate = asyncio.Semaphore(self._policy.concurrency)
        ready: list[Ready] = []

        async def look_up(claim: Claim) -> None:
            async with gate:
                contact = await self._contact(claim)
            if contact is not None:
                ready.append((claim, contact))

        await asyncio.gather(*(look_up(c) for c in claims))
        singles, batches = partition(ready, self._providers)

        async def one(claim: Claim, contact: Contact) -> None:
            async with gate:
                await self._send_one(claim, contact)

        async def many(provider: NotifyProvider, items: list[Ready]) -> None:
            async with gate:
                await self._send_batch(provider, items)

        await asyncio.gather(
            *(one(c, contact) for c, contact in singles),
            *(many(provider, items) for provider, items in batches),
        )

    async def deliver(self, claim: Claim) -> None:
        """Send one claimed message and record the outcome (errors are recorded, not raised)."""
        contact = await self._contact(claim)
        if contact is not None:
            await self._send_one(claim, contact)

    async def _contact(self, claim: Claim) -> Contact | None:
        """The citizen's contact, or None when the claim was recorded (retry, skipped)."""
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
            return None
        skip = _skip_reason(contact)
        if skip is not None:
            await self._skip(claim, skip)
            return None
        return contact

    async def _send_one(self, claim: Claim, contact: Contact) -> None:
        assert contact.phone is not None
        provider = self._providers.for_channel(claim.channel)
        message = claim.outbound(contact.phone)
        try:
            result = await self._earlier_send(provider.name, message, claim)
            if result is None:
                result = await provider.send(message)
        except Exception as exc:
            # Adapters return failures; anything raised is a bug or a misconfiguration. The
            # message may or may not have left: retry with the same key.
            log.exception("provider %s raised on %s", provider.name, claim.id)
            result = _raised(claim, exc)
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

    async def _send_batch(self, provider: NotifyProvider, items: Sequence[Ready]) -> None:
        """One bulk request for ``items`` (one template, one provider), then every outcome
        recorded in one transaction."""
        claims = [claim for claim, _ in items]
        messages = [claim.outbound(contact.phone or "") for claim, contact in items]
        bulk = cast(BulkProvider, provider)
        try:
            results = await bulk.send_many(messages)
        except Exception as exc:
            log.exception("provider %s raised on a bulk of %d", provider.name, len(items))
            results = [_raised(claim, exc) for claim in claims]
        log.info(
            "bulk of %d via %s: %d accepted",
            len(items),
            provider.name,
            sum(r.accepted for r in results),
        )
        if self._after_send is not None:
            for claim, result in zip(claims, results, strict=True):
                await self._after_send(claim, result)
        now = self._clock.now()
        async with transaction(self._sessions) as session:
            for claim, result in zip(claims, results, strict=True):
                await self._record_in(session, claim, result, now)

    async def _earlier_send(
        self, provider: str, message: OutboundMessage, claim: Claim
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

    async def _owned(self, session: AsyncSession, claim: Claim) -> Notification | None:
        """The row, locked, if it is still ``sending`` under this claim (a lease that ran out
        may have let another worker take it over)."""
        row = await repository.locked_notification(session, claim.id)
        if row is None or row.status != "sending" or row.attempts != claim.attempts:
            log.warning("notification %s was taken over; dropping a stale result", claim.id)
            return None
        return row

    async def _skip(self, claim: Claim, reason: str) -> None:
        now = self._clock.now()
        async with transaction(self._sessions) as session:
            row = await self._owned(session, claim)
            if row is None:
                return
            delivery.mark_skipped(row, reason, now)
        log.info("skipped %s: %s", claim.id, reason)

    async def _record(self, claim: Claim, result: SendResult) -> None:
        now = self._clock.now()
        async with transaction(self._sessions) as session:
            await self._record_in(session, claim, result, now)

    async def _record_in(
        self, session: AsyncSession, claim: Claim, result: SendResult, now: datetime
    ) -> None:
        """Record one outcome in the caller's transaction, if the row is still ours."""
        row = await self._owned(session, claim)
        if row is None:
            return
        if result.accepted:
            await delivery.mark_sent(
                session,
                row,
                provider=claim.provider,
                provider_message_id=result.provider_message_id,
                now=now,
                confirm_after=self._policy.confirm_after,
            )
        elif result.retryable and row.attempts < self._policy.max_attempts:
            delay = max(self._policy.backoff(row.attempts, self._rng), result.retry_after or 0.0)
            delivery.mark_retry(
                row, code=result.error_code, message=result.error_message, delay=delay, now=now
            )
            log.warning(
                "notification %s: %s (attempt %d), retry in %.1fs",
                claim.id,
                result.error_code,
                row.attempts,
                delay,
            )
        elif result.retryable:
            log.error(
                "notification %s: dead after %d attempts (%s)",
                claim.id,
                row.attempts,
                result.error_code,
            )
            await delivery.mark_dead(
                session, row, code=result.error_code, message=result.error_message, now=now
            )
        else:
            log.warning("notification %s refused: %s", claim.id, result.error_code)
            await delivery.mark_failed(
                session,
                row,
                reason="rejected",
                code=result.error_code,
                message=result.error_message,
                now=now,
            )

    # -- confirm -------------------------------------------------------------------------------

    async def confirm(self, *, batch: int = 100) -> int:
        """Poll providers for ``sent`` messages whose confirmation is due; returns reports applied."""
        now = self._clock.now()
        async with transaction(self._sessions) as session:
            by_provider: dict[str, list[Notification]] = {}
            for row in await repository.due_for_confirmation(session, now, batch):
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
                matched += await delivery.record_report(session, provider, report, now)
        return matched


def _raised(claim: Claim, exc: Exception) -> SendResult:
    return SendResult(
        claim.idempotency_key,
        accepted=False,
        retryable=True,
        error_code="provider_exception",
        error_message=type(exc).__name__,
    )


def _skip_reason(contact: Contact) -> str | None:
    """Why nothing can be sent to this contact (None: send)."""
    if contact.status != "active":
        # Unknown to identity-svc, or suspended (the number may not be theirs any more).
        return f"citizen_{contact.status}"
    if contact.phone is None:
        return "no_phone"
    return None
