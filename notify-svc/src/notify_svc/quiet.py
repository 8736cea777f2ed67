"""Quiet hours: no non-urgent message between 21:00 and 08:00 Korean time unless the citizen
consented to night-time messages (the rule of the Network Act, art. 50, for advertising, which
the city applies to every message it does not have to send at night)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

KST = ZoneInfo("Asia/Seoul")


class QuietHours:
    """The window ``start``-``end`` (local time in ``zone``), which may wrap past midnight."""

    def __init__(self, start: time = time(21), end: time = time(8), zone: ZoneInfo = KST) -> None:
        self.start = start
        self.end = end
        self.zone = zone

    def contains(self, when: datetime) -> bool:
        """Whether ``when`` (timezone-aware) falls inside the window."""
        local = when.astimezone(self.zone).time()
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_end(self, when: datetime) -> datetime:
        """The first end of the window at or after ``when`` (e.g. the next 08:00 KST)."""
        local = when.astimezone(self.zone)
        candidate = datetime.combine(local.date(), self.end, tzinfo=self.zone)
        if candidate < local:
            candidate = datetime.combine(
                local.date() + timedelta(days=1), self.end, tzinfo=self.zone
            )
        return candidate

    def defer(self, when: datetime) -> datetime | None:
        """When a non-urgent message due at ``when`` may go out: None if it may go now."""
        return self.next_end(when) if self.contains(when) else None
