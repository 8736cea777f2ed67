"""The dispatcher's numbers, and what happens to a due message when it is claimed."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Final, Literal

from notify_svc.config import NotifySettings
from notify_svc.models import Notification, Preference
from notify_svc.providers.base import Channel
from notify_svc.quiet import QuietHours
from notify_svc.service.preferences import allowed_channels

#: Result codes after which a message may or may not have reached the provider.
UNKNOWN_OUTCOME: Final = frozenset({"timeout", "connection_error", "provider_exception"})


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
    #: Page size of a proposal's followers (proposal-svc's internal endpoint; 100 is within
    #: every listing limit of the platform).
    followers_page: int = 100

    @classmethod
    def from_settings(cls, settings: NotifySettings) -> DispatchPolicy:
        """The dispatcher's numbers from the ``NOTIFY_`` settings."""
        return cls(
            batch_size=settings.send_batch_size,
            concurrency=settings.send_concurrency,
            lease=timedelta(seconds=settings.send_lease_seconds),
            max_attempts=settings.max_attempts,
            retry_base=settings.retry_base_seconds,
            retry_max=settings.retry_max_seconds,
            confirm_after=settings.confirm_after_seconds,
            quiet=QuietHours(time(settings.quiet_start_hour), time(settings.quiet_end_hour)),
        )

    def backoff(self, attempts: int, rng: random.Random) -> float:
        """Seconds before the next attempt: exponential backoff with "equal jitter", half the
        step fixed and half random."""
        step = min(self.retry_max, self.retry_base * 2.0 ** max(0, attempts - 1))
        return step / 2 + rng.uniform(0, step / 2)


#: What a claim does with a due row: skip it (and maybe queue its fallback), defer it, send it.
Verdict = Literal["opted_out", "channel_not_allowed", "defer", "send"]


def verdict(
    row: Notification, preference: Preference | None, now: datetime, quiet: QuietHours
) -> tuple[Verdict, datetime | None]:
    """What happens to a claimed row now, and for ``defer`` until when."""
    # A row found ``sending`` may have reached the provider already: it is sent again at once
    # with its key (never deferred or skipped), so that the provider can answer "already
    # accepted" within its idempotency window.
    if row.status == "sending":
        return "send", None
    if preference is not None and preference.opt_out:
        return "opted_out", None
    wanted = "alimtalk" if row.channel == Channel.ALIMTALK else "sms"
    if wanted not in allowed_channels(preference):
        return "channel_not_allowed", None
    night_ok = row.urgent or (preference is not None and preference.night_consent)
    # An attempt whose outcome is unknown (it may have gone out) is retried at once, like a
    # taken-over row: deferred past the provider's idempotency window, a retry could send it
    # twice.
    night_ok = night_ok or row.error_code in UNKNOWN_OUTCOME
    resume_at = None if night_ok else quiet.defer(now)
    if resume_at is not None:
        return "defer", resume_at
    return "send", None
