"""A citizen's notification preferences: channels, opt-out, night-time consent."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from notify_svc import repository
from notify_svc.models import Preference

#: Channels a citizen who never chose gets: AlimTalk, with SMS/LMS when it fails.
DEFAULT_CHANNELS: Final = ("alimtalk", "sms")


def allowed_channels(preference: Preference | None) -> tuple[str, ...]:
    """The channels a citizen accepts (``alimtalk``, ``sms``; SMS covers LMS too)."""
    return tuple(preference.channels) if preference is not None else DEFAULT_CHANNELS


@dataclass(frozen=True)
class Preferences:
    """A citizen's preferences as the API shows them (defaults when never set)."""

    channels: list[str]
    opt_out: bool
    night_consent: bool
    updated_at: datetime | None


async def get_preferences(session: AsyncSession, citizen_id: uuid.UUID) -> Preferences:
    """The citizen's preferences, or the defaults."""
    row = await repository.preference(session, citizen_id)
    if row is None:
        return Preferences(list(DEFAULT_CHANNELS), False, False, None)
    return Preferences(list(row.channels), row.opt_out, row.night_consent, row.updated_at)


async def put_preferences(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    *,
    channels: Sequence[str],
    opt_out: bool,
    night_consent: bool,
    now: datetime,
) -> Preferences:
    """Replace the citizen's preferences."""
    kept = list(dict.fromkeys(channels))
    values: dict[str, Any] = {
        "channels": kept,
        "opt_out": opt_out,
        "night_consent": night_consent,
        "updated_at": now,
    }
    await session.execute(
        insert(Preference)
        .values(citizen_id=citizen_id, **values)
        .on_conflict_do_update(index_elements=[Preference.citizen_id], set_=values)
    )
    return Preferences(kept, opt_out, night_consent, now)
