"""Casting a vote: the platform's hot path, and the one place in vote-svc that steps outside the
service anatomy on purpose.

Every agreement (and forum ballot) is **one SQL statement** (:data:`CAST_VOTE_SQL`) that checks
the target and the citizen, inserts the vote, counts it, stages both of its events and records
its pseudonymous integrity signals (``integrity.signals``, docs/integrity.md). Before it, one
statement on the same connection counts the vote against the rate limits
(``integrity.limits.cast_hits``, docs/abuse-limits.md). To keep it
at one round trip and a few hundred microseconds of CPU, it bypasses these conventions:

- **No ORM.** The statement is a hand-written data-modifying CTE sent to the asyncpg connection
  beneath SQLAlchemy (``services.db.driver_connection``: checked out of the engine's own pool, so
  there is one pool and one in-flight bound for the whole API), not a query built with models.
- **No session, and no transaction owned by the request boundary.** Everywhere else the boundary
  (``SessionDep``, the consumer runner) opens the transaction and commits it; here the statement
  is a transaction of its own (autocommit): atomic like any single statement, and the hot tally
  row stays locked only while the server executes it, not across a ``COMMIT`` round trip. In
  other words this module's cast commits, which no use case in ``service/`` may do.
- **No** ``services.outbox.add``. The statement writes the two outbox rows itself, with envelopes
  built here exactly as ``add`` would build them (:func:`staged_events`).
- **No response model** for the agreement's 201: the route writes the body directly
  (``schemas.agreement_json``, checked against ``AgreementPublic`` by a test).

The conventions hold again as soon as the statement inserted nothing: the refusal is explained
by an ORM query in a session of its own (``service.refusals.explain_refusal``).

Why each of these pays, with the measurements: docs/performance.md (its "Overload: the connection
pool makes the platform collapse" and, under "After the second round", "vote-api hot path without
a session") and the agreement benchmark's knee and latencies in docs/BENCHMARKS.md. docs/votes.md
explains why the statement is correct under any concurrency.
"""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.auth import Principal
from services.canonical import TargetType, VoteRecord, target_key, voter_tag
from services.db import driver_connection
from services.events import VoteCast, VoteTallyChanged, to_envelope
from services.problems import ProblemError
from services.ratelimit import hit_on_driver
from vote_svc.bootstrap import VoteContext
from vote_svc.integrity.limits import Caster, CastHit, cast_hits
from vote_svc.integrity.signals import signal_params
from vote_svc.service import refusals
from vote_svc.service.receipts import CastVote
from vote_svc.targets import TargetLearner, TargetSourceUnavailable

#: The choice recorded for an agreement (공감).
AGREE: Final = "agree"

VOTES_CAST = Counter(
    "votes_cast_total", "Votes asked for, by target type and outcome", ["target_type", "outcome"]
)
#: The children counted on every accepted vote, looked up once.
_ACCEPTED = {kind: VOTES_CAST.labels(kind, "accepted") for kind in ("proposal", "forum")}


@dataclass(frozen=True, slots=True)
class BallotBox:
    """Where votes are cast: the context (tag key, clock), the engine whose pool the statement
    takes its driver connection from, and sessions for explaining a refusal."""

    ctx: VoteContext
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    #: Asks proposal-svc about a target the read model does not hold yet (None: refuse with
    #: 404 as before; ``vote_svc.targets``).
    learner: TargetLearner | None = None


def new_vote_id(moment: datetime) -> uuid.UUID:
    """A UUIDv7 (RFC 9562): time-ordered, so the votes' primary key index grows at its right
    edge instead of taking random page writes at high insert rates."""
    millis = int(moment.timestamp() * 1000) & ((1 << 48) - 1)
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    return uuid.UUID(int=value)


#: Casting a vote in one statement. Parameters: $1 target_type, $2 target_id, $3 citizen_id,
#: $4 choice, $5 cast_at, $6 vote_id, $7 voter_tag, $8 record_hash, $9 record, then the two
#: outbox rows of :func:`staged_events` ($10 event id, $11 subject, $12 envelope of
#: ``vote.cast``; $13, $14, $15 of ``vote.tally_changed``, whose envelope gets the tally's
#: ``count`` and ``by_choice`` as they are after this vote), then the vote's integrity signals
#: ($16 network hash, $17 user-agent hash, $18 account age in hours, $19 age band:
#: ``integrity.signals.signal_params``; none are recorded when $16 is NULL), then $20 age band
#: and $21 residency of the voter kept on the vote (token claims, for the k-anonymous
#: statistics; NULL when absent).
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
        (id, target_type, target_id, citizen_id, choice, cast_at, voter_tag, record_hash, record,
         age_band, residency)
    SELECT $6::uuid, $1::text, $2::uuid, $3::uuid, $4::text, $5::timestamptz,
           $7::text, $8::text, $9::bytea, $20::text, $21::text
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
            ($13::uuid, $14::text, $15::jsonb || jsonb_build_object(
                'data', ($15::jsonb -> 'data') || jsonb_build_object(
                    'count', tally.vote_count, 'by_choice', tally.by_choice
                )
            ))
    ) AS e (event_id, subject, envelope)
),
signals AS (
    INSERT INTO vote_signals
        (vote_id, target_type, target_id, cast_at, network_hash, agent_hash,
         account_age_hours, age_band)
    SELECT $6::uuid, $1::text, $2::uuid, $5::timestamptz, $16::text, $17::text, $18::int,
           $19::text
    FROM vote
    WHERE $16::text IS NOT NULL
)
SELECT vote_count FROM tally
"""

#: The members of ``vote.tally_changed``'s data the statement adds (see :func:`staged_events`).
TALLY_MEMBERS: Final = frozenset({"count", "by_choice"})


def staged_events(
    vote: CastVote, record: bytes, *, agreer: uuid.UUID | None = None
) -> tuple[Any, ...]:
    """The outbox rows of an accepted vote, as the statement's parameters $10..$15: event id,
    subject and envelope of ``vote.cast``, then the same of ``vote.tally_changed``.

    Both envelopes are built here and nowhere else, by ``to_envelope`` as ``services.outbox.add``
    would. ``vote.tally_changed`` is complete but for :data:`TALLY_MEMBERS`: the counts after
    this vote exist only inside the statement (the tally upsert reads the row's newest version
    under its lock), which adds exactly those two members to ``data`` and touches nothing else.
    Knowing them here instead would take a second statement, with the row lock held across the
    round trip between them. ``agreer`` (the citizen, on agreements only) goes into
    ``vote.tally_changed`` as ``citizen_id``: proposal-svc makes them a follower.
    """
    cast_event = to_envelope(
        VoteCast(
            target_type=vote.target_type,
            target_id=vote.target_id,
            vote_id=vote.id,
            choice=vote.choice,
            cast_at=vote.cast_at,
            voter_tag=vote.voter_tag,
            record=base64.b64encode(record).decode(),
            record_hash=vote.record_hash,
        ),
        time=vote.cast_at,
    )
    tally_event = to_envelope(
        # The counts are required by the schema; they are left out of the envelope just below.
        VoteTallyChanged(
            target_type=vote.target_type,
            target_id=vote.target_id,
            count=0,
            changed_at=vote.cast_at,
            citizen_id=agreer,
        ),
        time=vote.cast_at,
    )
    return (
        uuid.UUID(cast_event.id),
        VoteCast.subject_name(),
        cast_event.model_dump_json(),
        uuid.UUID(tally_event.id),
        VoteTallyChanged.subject_name(),
        tally_event.model_dump_json(exclude={"data": set(TALLY_MEMBERS)}),
    )


@dataclass(frozen=True, slots=True)
class VoterFacts:
    """What the statistics keep of a voter with each vote: the age band and residency category
    of the access token's claims (``None`` when it carries none); never the age itself."""

    age_band: str | None = None
    residency: str | None = None

    @classmethod
    def of(cls, principal: Principal) -> VoterFacts:
        """The facts of the caller's token."""
        return cls(age_band(principal.age), principal.residency)


NO_FACTS: Final = VoterFacts()


def age_band(age: int | None) -> str | None:
    """The age band of ``age`` (the bands of identity-svc's ``identity.citizen_verified``)."""
    if age is None:
        return None
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


async def cast_agreement(
    box: BallotBox,
    citizen_id: uuid.UUID,
    *,
    proposal_id: uuid.UUID,
    caster: Caster | None = None,
    facts: VoterFacts = NO_FACTS,
) -> CastVote:
    """Record ``citizen_id``'s agreement with a proposal; refusals raise problems."""
    return await cast_vote(
        box, citizen_id, "proposal", proposal_id, AGREE, caster=caster, facts=facts
    )


async def cast_vote(
    box: BallotBox,
    citizen_id: uuid.UUID,
    target_type: TargetType,
    target_id: uuid.UUID,
    choice: str,
    *,
    caster: Caster | None = None,
    facts: VoterFacts = NO_FACTS,
) -> CastVote:
    """Record ``citizen_id``'s vote (``choice`` already NFC-normalised) with the voter's
    ``facts``; refusals raise the problem that explains them (``service.refusals``), the rate
    limits 429 ``rate-limited`` (``integrity.limits``: counted before the statement, on the
    caster's citizen and network).
    """
    # The rate limits' counters, hit once, on the first try's connection.
    hits: Sequence[CastHit] = cast_hits(box.ctx, citizen_id, caster)
    # A refusal the second query cannot explain means something changed in between (a target
    # opened, a suspension was lifted); one more try settles it. A target the read model does
    # not hold yet is asked of proposal-svc once, and the cast tried again (vote_svc.targets).
    # The limits are counted on the first try only.
    learned = box.learner is None
    tries = 0
    while tries < 2:
        tries += 1
        vote = await _try_cast(box, citizen_id, target_type, target_id, choice, facts, caster, hits)
        hits = ()
        if vote is not None:
            _ACCEPTED[target_type].inc()
            return vote
        try:
            async with box.sessions() as session:
                await refusals.explain_refusal(
                    session, citizen_id, target_type, target_id, choice, box.ctx.clock.now()
                )
        except refusals.TargetNotFound as refusal:
            if learned or not await _learn(box, target_type, target_id):
                VOTES_CAST.labels(target_type, refusal.slug.removeprefix(f"{target_type}-")).inc()
                raise
            learned, tries = True, 0
        except ProblemError as refusal:
            VOTES_CAST.labels(target_type, refusal.slug.removeprefix(f"{target_type}-")).inc()
            raise
    VOTES_CAST.labels(target_type, "race").inc()
    raise refusals.CastRace


async def _learn(box: BallotBox, target_type: TargetType, target_id: uuid.UUID) -> bool:
    """Whether proposal-svc knows the target (now filled into the read model); 503 when it
    cannot be asked."""
    assert box.learner is not None
    try:
        return await box.learner.learn(box.sessions, target_type, target_id)
    except TargetSourceUnavailable:
        VOTES_CAST.labels(target_type, "lookup-failed").inc()
        raise refusals.TargetLookupFailed(target_type) from None


async def _try_cast(
    box: BallotBox,
    citizen_id: uuid.UUID,
    target_type: TargetType,
    target_id: uuid.UUID,
    choice: str,
    facts: VoterFacts,
    caster: Caster | None = None,
    hits: Sequence[CastHit] = (),
) -> CastVote | None:
    """The one statement (after counting ``hits`` against the rate limits on the same
    connection: 429 ``rate-limited``); None when it inserted nothing."""
    cast_at = box.ctx.clock.now()
    vote_id = new_vote_id(cast_at)
    target = target_key(target_type, target_id)
    tag = voter_tag(box.ctx.tag_key, citizen_id, target)
    record = VoteRecord.build(
        target=target, voter_tag=tag, vote_id=vote_id, cast_at=cast_at, choice=choice
    ).encode()
    vote = CastVote(
        id=vote_id,
        target_type=target_type,
        target_id=target_id,
        choice=choice,
        cast_at=cast_at,
        voter_tag=tag,
        record_hash=hashlib.sha256(record).hexdigest(),
    )
    # A pooled connection without a session: the statement is a transaction of its own (no
    # BEGIN/COMMIT round trips, and the tally row is locked only while the server executes it).
    async with driver_connection(box.engine) as driver:
        if hits:
            await hit_on_driver(driver, hits, cast_at)
        counted = await driver.fetchval(
            CAST_VOTE_SQL,
            target_type,
            target_id,
            citizen_id,
            choice,
            cast_at,
            vote_id,
            tag,
            vote.record_hash,
            record,
            *staged_events(vote, record, agreer=citizen_id if target_type == "proposal" else None),
            *signal_params(box.ctx.signal_key, caster, cast_at),
            facts.age_band,
            facts.residency,
        )
    return None if counted is None else vote
