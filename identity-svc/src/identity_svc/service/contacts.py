"""Citizens' mobile numbers: captured at verification, stored only encrypted, read by notify-svc.

The number is normalised to its digits (``01012345678``) and sealed with AES-256-GCM under
``IDENTITY_CONTACT_KEY``; the associated data is the citizen id, so a blob moved to another
citizen's row does not open. The number never appears in a log line: refusals name the citizen
id only.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from identity_svc.models import Citizen, CitizenContact
from services.problems import ProblemError
from services.sealing import seal, unseal

log = logging.getLogger(__name__)

#: A Korean mobile number as digits: 010 + 8 digits, or the older 011/016/017/018/019 + 7 or 8.
_MOBILE = re.compile(r"010[0-9]{8}|01[16789][0-9]{7,8}")


@dataclass(frozen=True)
class Contact:
    """What notify-svc may know of a citizen to reach them."""

    citizen_id: uuid.UUID
    phone: str | None
    status: str


def normalise_phone(raw: str) -> str | None:
    """The digits of a Korean mobile number (``010-1234-5678`` → ``01012345678``), or None when
    it is not one. ``+82 10-…`` is accepted as well."""
    digits = "".join(ch for ch in raw if ch.isdigit() and ch.isascii())
    if raw.strip().startswith("+82") and digits.startswith("82"):
        digits = "0" + digits[2:]
    return digits if _MOBILE.fullmatch(digits) else None


def _associated(citizen_id: uuid.UUID) -> str:
    return f"citizen_contacts:{citizen_id}"


def seal_phone(key: bytes, citizen_id: uuid.UUID, phone: str) -> bytes:
    """The sealed blob of ``phone`` for ``citizen_id``'s row."""
    return seal(key, _associated(citizen_id), phone.encode())


def unseal_phone(key: bytes, citizen_id: uuid.UUID, blob: bytes) -> str:
    """Open a blob of ``citizen_id``'s row (``InvalidTag`` for another row's blob or key)."""
    return unseal(key, _associated(citizen_id), blob).decode()


async def record_phone(
    session: AsyncSession, key: bytes, citizen_id: uuid.UUID, phone: SecretStr | None
) -> None:
    """Store (or replace) the citizen's number from their latest verification. A provider that
    gave none, or something that is not a mobile number, leaves the stored one as it is."""
    if phone is None:
        return
    digits = normalise_phone(phone.get_secret_value())
    if digits is None:
        log.warning("verified phone number of citizen %s is not a mobile number", citizen_id)
        return
    statement = insert(CitizenContact).values(
        citizen_id=citizen_id, phone_sealed=seal_phone(key, citizen_id, digits)
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[CitizenContact.citizen_id],
            set_={"phone_sealed": statement.excluded.phone_sealed, "updated_at": func.now()},
        )
    )


async def contact(session: AsyncSession, key: bytes, citizen_id: uuid.UUID) -> Contact:
    """The citizen's number (None when never captured) and status; 404 for an unknown id."""
    row = (
        await session.execute(
            select(Citizen.status, CitizenContact.phone_sealed)
            .outerjoin(CitizenContact, CitizenContact.citizen_id == Citizen.id)
            .where(Citizen.id == citizen_id)
        )
    ).first()
    if row is None:
        raise ProblemError(404, "citizen-not-found", "Citizen not found")
    phone = None
    if row.phone_sealed is not None:
        try:
            phone = unseal_phone(key, citizen_id, row.phone_sealed)
        except InvalidTag:
            log.error("contact of citizen %s does not open (wrong key or moved row)", citizen_id)
            raise ProblemError(
                500,
                "contact-unreadable",
                "Contact cannot be read",
                "The stored contact does not open with the configured key; operators are told.",
            ) from None
    return Contact(citizen_id=citizen_id, phone=phone, status=row.status)
