"""What identity-svc keeps of a birth date, and the eligibility claims it puts in access tokens.

PIPA minimisation (docs/identity.md): the birth date is read from the provider and dropped; the
citizen row keeps the age band (statistics) and the first day of the birth month (eligibility).
The ``age`` claim is the whole years the citizen has *certainly* reached on the day the token is
issued: with only the month known, a birthday counts from the first day of the following month,
so the claim is never older than the person (at most a month late, never early).

Tokens also carry ``since``: when the account was created (the person's first verification),
as a NumericDate cut to the hour. vote-svc keeps the account's age at voting time with each
vote's integrity signals (docs/integrity.md: a burst of brand-new accounts is a signal); the
hour is all it needs, and no more precise instant of a person's sign-up leaves identity-svc.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

#: Ages turn at midnight in Korea (no daylight saving time).
KST = timezone(timedelta(hours=9), "KST")

#: The youngest age of each band (citizens verified before the birth month was kept).
_BAND_FLOOR = {
    "under_14": 0,
    "14_17": 14,
    "18_29": 18,
    "30_39": 30,
    "40_49": 40,
    "50_59": 50,
    "60_69": 60,
    "70_plus": 70,
}


def korean_date(now: datetime) -> date:
    """The date in Korea at the instant ``now`` (the day ages are counted on)."""
    return now.astimezone(KST).date()


def age_band(birthdate: date, today: date) -> str:
    """The age band kept instead of the birthdate."""
    age = (
        today.year - birthdate.year - ((today.month, today.day) < (birthdate.month, birthdate.day))
    )
    if age < 14:
        return "under_14"
    if age < 18:
        return "14_17"
    if age < 30:
        return "18_29"
    if age >= 70:
        return "70_plus"
    decade = age // 10 * 10
    return f"{decade}_{decade + 9}"


def birth_month(birthdate: date) -> date:
    """What is kept of the birth date: the first day of its month."""
    return birthdate.replace(day=1)


def _whole_years(since: date, today: date) -> int:
    return today.year - since.year - ((today.month, today.day) < (since.month, since.day))


def certain_age(month: date, today: date) -> int:
    """Whole years certainly reached on ``today`` by someone born in ``month``: the birthday of
    a year counts once the birth month is over."""
    return today.year - month.year - (1 if today.month <= month.month else 0)


@dataclass(frozen=True)
class EligibilityFacts:
    """What the citizen row says about eligibility."""

    birth_month: date | None
    age_band: str
    verified_at: datetime
    is_foreigner: bool | None
    residency: str | None
    #: When the citizen row was created (the first verification).
    created_at: datetime | None = None

    def age(self, today: date) -> int:
        """The ``age`` claim on ``today`` (see the module doc). A citizen verified before the
        birth month was kept: their band's youngest age at verification plus the whole years
        since, equally never older than the person."""
        if self.birth_month is not None:
            return max(certain_age(self.birth_month, today), 0)
        floor = _BAND_FLOOR.get(self.age_band, 0)
        return floor + max(_whole_years(self.verified_at.date(), today), 0)

    def claims(self, today: date) -> dict[str, Any]:
        """The eligibility claims of a token issued on ``today`` (unknown facts left out)."""
        claims: dict[str, Any] = {"age": self.age(today)}
        if self.is_foreigner is not None:
            claims["foreigner"] = self.is_foreigner
        if self.residency is not None:
            claims["residency"] = self.residency
        if self.created_at is not None:
            claims["since"] = int(self.created_at.timestamp()) // 3600 * 3600
        return claims
