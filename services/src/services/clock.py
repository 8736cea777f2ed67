"""The clock the time-driven rules (tiers and deadlines, quiet hours, retries, leases) read: the
system's, or one a test sets and moves by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Where "now" comes from."""

    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time, UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock tests set and advance."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> datetime:
        """Move forward by ``timedelta(**delta)``."""
        self._now += timedelta(**delta)
        return self._now

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (timezone-aware)."""
        self._now = when
