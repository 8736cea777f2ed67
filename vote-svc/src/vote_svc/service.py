"""vote-svc use cases. They never commit: the request or consumer boundary owns the transaction.

Casting a vote is the hot path of the platform, so it is one SQL statement (:data:`CAST_VOTE_SQL`)
sent to an asyncpg connection taken straight from the engine's pool, with no ORM session around
it (:func:`services.db.driver_connection`): it checks the target and the citizen, inserts the
vote, counts it and stages both events, and is a transaction of its own (atomic, and the hot
tally row is not held across a COMMIT round trip). Only when it inserted nothing does a second
query (through the ORM, in a session of its own) find out why, to answer with the right problem.
"""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, cast

from prometheus_client import Counter
from sqlalchemy import and_, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.canonical import TargetType, VoteRecord, format_time, target_key, voter_tag
from services.db import driver_connection
from services.events import VoteCast, VoteTallyChanged, to_envelope
from services.problems import ProblemError
from vote_svc.models import CitizenSuspension, Tally, Target, Vote

#: The choice recorded for an agreement (공감).
AGREE: Final = "agree"

VOTES_CAST = Counter(
    "votes_cast_total", "Votes asked for, by target type and outcome", ["target_type", "outcome"]
)
#: The children counted on every accepted vote, looked up once.
_ACCEPTED = {kind: VOTES_CAST.labels(kind, "accepted") for kind in ("proposal", "forum")}


@dataclass(frozen=True)
class VoteDatabase:
    """Where votes are cast: the engine whose pool the hot statement takes its connection
    from, and sessions for everything else (explaining a refusal)."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]


@dataclass(frozen=True)
class VoteContext:
    """What the use cases need besides the session."""

    #: ``k_ledger``, the HMAC key of voter tags.
    tag_key: bytes


@dataclass(frozen=True, slots=True)
class CastVote:
    """An accepted vote as the voter is told about it (a plain value: the hot path builds no
    ORM objects)."""

    id: uuid.UUID
    target_type: TargetType
    target_id: uuid.UUID
    choice: str
    cast_at: datetime
    voter_tag: str
    record_hash: str

    @classmethod
    def of(cls, vote: Vote) -> CastVote:
        """The value of a stored vote."""
        return cls(
            id=vote.id,
            target_type=cast(TargetType, vote.target_type),  # a CHECK constraint holds it
            target_id=vote.target_id,
            choice=vote.choice,
            cast_at=vote.cast_at,
            voter_tag=vote.voter_tag,
            record_hash=vote.record_hash,
        )


def now_utc() -> datetime:
    """The current time (one place to read the clock)."""
    return datetime.now(UTC)


def new_vote_id(moment: datetime) -> uuid.UUID:
    """A UUIDv7 (RFC 9562): time-ordered, so the votes' primary key index grows at its right
    edge instead of taking random page writes at high insert rates."""
    millis = int(moment.timestamp() * 1000) & ((1 << 48) - 1)
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    return uuid.UUID(int=value)


# --- refusals ---------------------------------------------------------------------------------


def _label(target_type: str) -> str:
    return "Proposal" if target_type == "proposal" else "Forum"


class TargetNotFound(ProblemError):
    """404: vote-svc has never heard of this proposal or forum."""

    def __init__(self, target_type: str, target_id: uuid.UUID) -> None:
        super().__init__(
            404,
            f"{target_type}-not-found",
            f"{_label(target_type)} not found",
            f"no {target_type} {target_id} is open for votes",
        )


class AlreadyVoted(ProblemError):
    """409 carrying the first vote and its receipt: one vote per citizen per target."""

    def __init__(self, vote: CastVote) -> None:
        first: dict[str, Any] = {
            "vote_id": str(vote.id),
            f"{vote.target_type}_id": str(vote.target_id),
            "choice": vote.choice,
            "cast_at": format_time(vote.cast_at),
            "receipt": {"record_hash": vote.record_hash, "voter_tag": vote.voter_tag},
        }
        super().__init__(
            409,
            "already-voted",
            "Already voted",
            f"this citizen already voted on this {vote.target_type}; the first vote stands",
            **first,
        )


class TargetClosed(ProblemError):
    """409: the target exists but does not accept votes now."""

    def __init__(self, target: Target, cast_at: datetime) -> None:
        kind = target.target_type
        if target.status == "open" and target.opens_at is not None and cast_at < target.opens_at:
            super().__init__(
                409,
                f"{kind}-not-open",
                f"{_label(kind)} is not open yet",
                f"votes are accepted from {format_time(target.opens_at)}",
                opens_at=format_time(target.opens_at),
            )
            return
        status = target.closed_status if target.status == "closed" else None
        super().__init__(
            409,
            f"{kind}-closed",
            f"{_label(kind)} is closed",
            f"this {kind} no longer accepts votes"
            + (f" (it is {status})" if status and status != "closed" else ""),
            target_status=status or "closed",
            closes_at=format_time(target.closes_at) if target.closes_at else None,
        )


class VoterSuspended(ProblemError):
    """403: the citizen is suspended (``identity.citizen_suspended``)."""

    def __init__(self) -> None:
        super().__init__(
            403, "citizen-suspended", "Citizen suspended", "a suspended citizen cannot vote"
        )


class InvalidChoice(ProblemError):
    """422: the ballot's choice is not one of the forum's options."""

    def __init__(self, choice: str, options: list[str]) -> None:
        super().__init__(
            422,
            "invalid-choice",
            "Not one of the forum's options",
            f"{choice!r} is not an option of this forum",
            options=options,
        )


class VoteNotFound(ProblemError):
    """404: no such vote of this citizen (others' votes are not found either)."""

    def __init__(self) -> None:
        super().__init__(404, "vote-not-found", "Vote not found")


class CastRace(ProblemError):
    """503: the target or the citizen changed between the two queries of a cast, twice."""

    def __init__(self) -> None:
        super().__init__(
            503,
            "vote-retry",
            "Try again",
            "the target changed while the vote was cast; nothing was recorded",
            headers={"Retry-After": "1"},
        )


# --- casting ----------------------------------------------------------------------------------

#: Casting a vote in one statement. Parameters: $1 target_type, $2 target_id, $3 citizen_id,
#: $4 choice, $5 cast_at, $6 vote_id, $7 voter_tag, $8 record_hash, $9 record, then the two
#: outbox rows ($10 event id, $11 subject, $12 envelope of ``vote.cast``; $13, $14, $15 of
#: ``vote.tally_changed``, whose ``data.count`` and ``data.by_choice`` are filled in here from
#: the tally as it is after this vote).
#:
#: The tally upsert waits for the target's row lock and then reads the row's newest version, so
#: the counts it returns are exact under any concurrency; the ``ON CONFLICT DO NOTHING`` of a
#: second vote by the same citizen waits for the first one's transaction and then inserts
#: nothing, and neither does anything after it. Data-modifying CTEs run to completion whether
#: or not the final SELECT reads them.
CAST_VOTE_SQL: Final = """
WITH allowed AS (
    SELECT 1
    FROM targets AS t
    WHERE t.target_type = $1::text
      AND t.target_id = $2::uuid
      AND t.status = 'open'
      AND t.opens_at <= $5::timestamptz
      AND (t.closes_at IS NULL OR t.closes_at > $5::timestamptz)
      AND (t.options IS NULL OR $4::text = ANY (t.options))
      AND NOT EXISTS (
          SELECT 1 FROM citizen_suspensions AS s
          WHERE s.citizen_id = $3::uuid AND s.suspended
      )
),
vote AS (
    INSERT INTO votes
        (id, target_type, target_id, citizen_id, choice, cast_at, voter_tag, record_hash, record)
    SELECT $6::uuid, $1::text, $2::uuid, $3::uuid, $4::text, $5::timestamptz,
           $7::text, $8::text, $9::bytea
    FROM allowed
    ON CONFLICT (target_type, target_id, citizen_id) DO NOTHING
    RETURNING 1
),
tally AS (
    INSERT INTO tallies AS t (target_type, target_id, vote_count, by_choice, updated_at)
    SELECT $1::text, $2::uuid, 1, jsonb_build_object($4::text, 1), $5::timestamptz
    FROM vote
    ON CONFLICT (target_type, target_id) DO UPDATE
    SET vote_count = t.vote_count + 1,
        by_choice = t.by_choice || jsonb_build_object(
            $4::text, COALESCE((t.by_choice ->> $4::text)::bigint, 0) + 1
        ),
        updated_at = excluded.updated_at
    RETURNING t.vote_count, t.by_choice
),
events AS (
    INSERT INTO outbox (event_id, subject, envelope)
    SELECT e.event_id, e.subject, e.envelope
    FROM tally
    CROSS JOIN LATERAL (
        VALUES
            ($10::uuid, $11::text, $12::jsonb),
            ($13::uuid, $14::text,
             jsonb_set(
                 jsonb_set($15::jsonb, '{data,count}', to_jsonb(tally.vote_count)),
                 '{data,by_choice}', tally.by_choice
             ))
    ) AS e (event_id, subject, envelope)
)
SELECT vote_count FROM tally
"""


async def cast_agreement(
    db: VoteDatabase, ctx: VoteContext, citizen_id: uuid.UUID, *, proposal_id: uuid.UUID
) -> CastVote:
    """Record ``citizen_id``'s agreement with a proposal; refusals raise problems."""
    return await _cast(db, ctx, citizen_id, "proposal", proposal_id, AGREE)


async def cast_ballot(
    db: VoteDatabase,
    ctx: VoteContext,
    citizen_id: uuid.UUID,
    *,
    forum_id: uuid.UUID,
    choice: str,
) -> CastVote:
    """Record ``citizen_id``'s ballot in a forum (``choice`` already NFC-normalised)."""
    return await _cast(db, ctx, citizen_id, "forum", forum_id, choice)


async def _cast(
    db: VoteDatabase,
    ctx: VoteContext,
    citizen_id: uuid.UUID,
    target_type: TargetType,
    target_id: uuid.UUID,
    choice: str,
) -> CastVote:
    # A refusal the second query cannot explain means something changed in between (a target
    # opened, a suspension was lifted); one more try settles it.
    for _ in range(2):
        vote = await _try_cast(db.engine, ctx, citizen_id, target_type, target_id, choice)
        if vote is not None:
            _ACCEPTED[target_type].inc()
            return vote
        try:
            async with db.sessions() as session:
                await _explain_refusal(session, citizen_id, target_type, target_id, choice)
        except ProblemError as refusal:
            VOTES_CAST.labels(target_type, refusal.slug.removeprefix(f"{target_type}-")).inc()
            raise
    VOTES_CAST.labels(target_type, "race").inc()
    raise CastRace


async def _try_cast(
    engine: AsyncEngine,
    ctx: VoteContext,
    citizen_id: uuid.UUID,
    target_type: TargetType,
    target_id: uuid.UUID,
    choice: str,
) -> CastVote | None:
    """The one-statement hot path; None when nothing was inserted."""
    cast_at = now_utc()
    vote_id = new_vote_id(cast_at)
    target = target_key(target_type, target_id)
    tag = voter_tag(ctx.tag_key, citizen_id, target)
    record = VoteRecord.build(
        target=target, voter_tag=tag, vote_id=vote_id, cast_at=cast_at, choice=choice
    ).encode()
    record_hash = hashlib.sha256(record).hexdigest()
    cast_event = to_envelope(
        VoteCast(
            target_type=target_type,
            target_id=target_id,
            vote_id=vote_id,
            choice=choice,
            cast_at=cast_at,
            voter_tag=tag,
            record=base64.b64encode(record).decode(),
            record_hash=record_hash,
        ),
        time=cast_at,
    )
    # count and by_choice are placeholders: the statement writes the tally after this vote.
    tally_event = to_envelope(
        VoteTallyChanged(target_type=target_type, target_id=target_id, count=0, changed_at=cast_at),
        time=cast_at,
    )
    # A pooled connection without a session: the statement is a transaction of its own (no
    # BEGIN/COMMIT round trips, and the tally row is locked only while the server executes it).
    async with driver_connection(engine) as driver:
        counted = await driver.fetchval(
            CAST_VOTE_SQL,
            target_type,
            target_id,
            citizen_id,
            choice,
            cast_at,
            vote_id,
            tag,
            record_hash,
            record,
            uuid.UUID(cast_event.id),
            VoteCast.subject_name(),
            cast_event.model_dump_json(),
            uuid.UUID(tally_event.id),
            VoteTallyChanged.subject_name(),
            tally_event.model_dump_json(),
        )
    if counted is None:
        return None
    return CastVote(
        id=vote_id,
        target_type=target_type,
        target_id=target_id,
        choice=choice,
        cast_at=cast_at,
        voter_tag=tag,
        record_hash=record_hash,
    )


async def _explain_refusal(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    target_type: TargetType,
    target_id: uuid.UUID,
    choice: str,
) -> None:
    """Raise the problem that explains why the hot path inserted nothing (in the order a voter
    would want to hear it); return when nothing explains it."""
    now = now_utc()
    row = (
        await session.execute(
            select(Target, Vote, CitizenSuspension.suspended)
            .outerjoin(
                Vote,
                and_(
                    Vote.target_type == Target.target_type,
                    Vote.target_id == Target.target_id,
                    Vote.citizen_id == citizen_id,
                ),
            )
            .outerjoin(CitizenSuspension, CitizenSuspension.citizen_id == citizen_id)
            .where(Target.target_type == target_type, Target.target_id == target_id)
        )
    ).first()
    if row is None:
        raise TargetNotFound(target_type, target_id)
    target, existing, suspended = row
    if existing is not None:
        raise AlreadyVoted(CastVote.of(existing))
    if suspended:
        raise VoterSuspended
    if (
        target.status != "open"
        or target.opens_at is None
        or now < target.opens_at
        or (target.closes_at is not None and now >= target.closes_at)
    ):
        raise TargetClosed(target, now)
    if target.options is not None and choice not in target.options:
        raise InvalidChoice(choice, target.options)


# --- reading ----------------------------------------------------------------------------------


async def _tally(
    session: AsyncSession, target_type: TargetType, target_id: uuid.UUID
) -> tuple[Target, Tally | None]:
    row = (
        await session.execute(
            select(Target, Tally)
            .outerjoin(
                Tally,
                and_(
                    Tally.target_type == Target.target_type,
                    Tally.target_id == Target.target_id,
                ),
            )
            .where(Target.target_type == target_type, Target.target_id == target_id)
        )
    ).first()
    if row is None:
        raise TargetNotFound(target_type, target_id)
    target, tally = row
    return target, tally


async def proposal_agreements(session: AsyncSession, proposal_id: uuid.UUID) -> int:
    """How many citizens agreed with a proposal (404 when vote-svc does not know it)."""
    _, tally = await _tally(session, "proposal", proposal_id)
    return tally.vote_count if tally else 0


async def forum_tally(session: AsyncSession, forum_id: uuid.UUID) -> tuple[int, dict[str, int]]:
    """A forum's participants and the count per option (every option listed, 0 included)."""
    target, tally = await _tally(session, "forum", forum_id)
    counted = {k: int(v) for k, v in (tally.by_choice if tally else {}).items()}
    by_choice = {option: counted.pop(option, 0) for option in target.options or []}
    by_choice.update(counted)  # options a later forum.opened dropped keep their votes
    return (tally.vote_count if tally else 0), by_choice


async def own_vote(session: AsyncSession, citizen_id: uuid.UUID, vote_id: uuid.UUID) -> Vote:
    """The vote ``vote_id`` if ``citizen_id`` cast it; 404 otherwise (ids cannot be probed)."""
    vote = await session.scalar(
        select(Vote).where(Vote.id == vote_id, Vote.citizen_id == citizen_id)
    )
    if vote is None:
        raise VoteNotFound
    return vote


# --- read models (fed by consumers) -------------------------------------------------------------


async def target_opened(
    session: AsyncSession,
    target_type: TargetType,
    target_id: uuid.UUID,
    *,
    opens_at: datetime,
    closes_at: datetime | None,
    options: list[str] | None,
    event_time: datetime,
) -> None:
    """Apply an ``opened`` event stated at ``event_time``; an older one than already applied
    changes nothing, and one older than the latest ``closed`` leaves the target closed."""
    stmt = insert(Target).values(
        target_type=target_type,
        target_id=target_id,
        opens_at=opens_at,
        closes_at=closes_at,
        options=options,
        opened_event_at=event_time,
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Target.target_type, Target.target_id],
            set_={
                "opens_at": stmt.excluded.opens_at,
                "closes_at": stmt.excluded.closes_at,
                "options": stmt.excluded.options,
                "opened_event_at": stmt.excluded.opened_event_at,
                "updated_at": now_utc(),
            },
            where=or_(
                Target.opened_event_at.is_(None),
                Target.opened_event_at < stmt.excluded.opened_event_at,
            ),
        )
    )


async def target_closed(
    session: AsyncSession,
    target_type: TargetType,
    target_id: uuid.UUID,
    *,
    status: str,
    event_time: datetime,
) -> None:
    """Apply a ``closed`` event stated at ``event_time`` (a target first heard of this way is
    known, and closed)."""
    stmt = insert(Target).values(
        target_type=target_type,
        target_id=target_id,
        closed_event_at=event_time,
        closed_status=status,
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Target.target_type, Target.target_id],
            set_={
                "closed_event_at": stmt.excluded.closed_event_at,
                "closed_status": stmt.excluded.closed_status,
                "updated_at": now_utc(),
            },
            where=or_(
                Target.closed_event_at.is_(None),
                Target.closed_event_at < stmt.excluded.closed_event_at,
            ),
        )
    )


async def set_suspension(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    *,
    suspended: bool,
    reason: str | None,
    event_time: datetime,
) -> None:
    """Apply a suspension or reinstatement stated at ``event_time`` unless a newer one was."""
    stmt = insert(CitizenSuspension).values(
        citizen_id=citizen_id, suspended=suspended, reason=reason, changed_at=event_time
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[CitizenSuspension.citizen_id],
            set_={
                "suspended": stmt.excluded.suspended,
                "reason": stmt.excluded.reason,
                "changed_at": stmt.excluded.changed_at,
            },
            where=CitizenSuspension.changed_at < stmt.excluded.changed_at,
        )
    )


async def target_records(
    session: AsyncSession, target_type: TargetType, target_id: uuid.UUID
) -> tuple[int, list[tuple[uuid.UUID, str, str, datetime]]]:
    """The target's running tally and every vote row (id, voter tag, record hash), counted from
    the rows themselves: what the ledger's audit compares with its own records."""
    _, tally = await _tally(session, target_type, target_id)
    rows = (
        await session.execute(
            select(Vote.id, Vote.voter_tag, Vote.record_hash, Vote.cast_at)
            .where(Vote.target_type == target_type, Vote.target_id == target_id)
            .order_by(Vote.id)
        )
    ).all()
    return (tally.vote_count if tally else 0), [
        (r.id, r.voter_tag, r.record_hash, r.cast_at) for r in rows
    ]
