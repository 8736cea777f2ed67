"""Tamper tests on a running system: votes cast through vote-svc, relayed over NATS, appended by
the ledger's batching consumer; then vote-svc's rows are tampered with behind its back and the
audit must report each change with the right difference, publishing ``ledger.audit_mismatch``.

Two services in one test, so it lives here rather than in ledger-svc/tests; it runs against both
ledger backends with the ledger suite's fixtures (conftest.py)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ledger_svc import audit, ledger
from ledger_svc.bootstrap import LedgerContext, bootstrap
from ledger_svc.consumers import records_consumer
from ledger_svc.main import create_app as create_ledger_app
from ledger_svc.models import OutboxMessage
from services import nats as nats_mod
from services.clock import ManualClock
from services.consumer import ConsumerRunner
from services.db import create_engine, create_sessionmaker, to_plain_url, transaction
from services.events import ProposalOpened, to_envelope
from services.outbox import OutboxRelay
from services_dev.localrt.postgres import EmbeddedPostgres
from services_dev.testing import running_app
from services_dev.testing.plugin import clone_database, migrated_template
from services_dev.testing.tokens import TestTokens
from vote_svc import consumers as vote_consumers
from vote_svc.bootstrap import bootstrap as vote_bootstrap
from vote_svc.config import VoteSettings
from vote_svc.main import create_app as create_vote_app

VOTE_MIGRATIONS = Path(__file__).parents[3] / "vote-svc" / "src" / "vote_svc" / "migrations"
#: How far ahead of the votes the audit looks: past its in-flight grace.
LATER = timedelta(minutes=5)


@pytest.fixture(scope="session")
def vote_template_for_ledger(pg_server: EmbeddedPostgres) -> str:
    return migrated_template(pg_server, "ledger_tests_vote_template", VOTE_MIGRATIONS)


@pytest.fixture
async def system(
    pg_server: EmbeddedPostgres,
    vote_template_for_ledger: str,
    service_env: dict[str, str],
    sessions: async_sessionmaker[AsyncSession],
    ctx: LedgerContext,
) -> AsyncIterator[dict[str, Any]]:
    vote_url = await clone_database(pg_server, vote_template_for_ledger)
    nc = await nats.connect(service_env["nats_url"])
    js = nc.jetstream()
    await nats_mod.ensure_streams(js)
    vote_engine = create_engine(vote_url)
    vote_sessions = create_sessionmaker(vote_engine)
    tokens = TestTokens()
    settings = VoteSettings(
        environment="test", database_url=vote_url, nats_url=service_env["nats_url"]
    )
    vote_ctx = vote_bootstrap(settings)
    app = create_vote_app(vote_ctx, key_source=tokens)
    async with running_app(app) as vote_client:
        yield {
            "js": js,
            "vote_url": vote_url,
            "vote_sessions": vote_sessions,
            "tokens": tokens,
            "vote_client": vote_client,
            "vote_ctx": vote_ctx,
            "consumer": records_consumer(
                bootstrap(
                    ctx.settings.model_copy(update={"batch_max": 50, "batch_ms": 50}),
                    backend=ctx.backend,
                ),
                sessions,
                js,
            ),
        }
    await vote_engine.dispose()
    await nc.close()


async def _open_and_vote(system: dict[str, Any], voters: int) -> uuid.UUID:
    proposal = uuid.uuid4()
    async with transaction(system["vote_sessions"]) as session:
        now = datetime.now(UTC)
        event = ProposalOpened(
            proposal_id=proposal, opened_at=now, closes_at=now + timedelta(days=30)
        )
        await vote_consumers.on_proposal_opened(
            system["vote_ctx"], session, event, to_envelope(event)
        )
    client: httpx.AsyncClient = system["vote_client"]
    for _ in range(voters):
        response = await client.post(
            "/v1/votes/agreements",
            json={"proposal_id": str(proposal)},
            headers=system["tokens"].headers(),
        )
        assert response.status_code == 201, response.text
    await OutboxRelay(system["vote_sessions"], system["js"]).relay_once()
    consumer: ConsumerRunner = system["consumer"]
    for _ in range(5):
        await consumer.process_batch()
    return proposal


async def _audit(
    system: dict[str, Any],
    sessions: async_sessionmaker[AsyncSession],
    ctx: LedgerContext,
    target: str,
) -> Any:
    votes = audit.VoteServiceClient("http://vote", client=system["vote_client"])
    # From the time of this audit, not of the module's import: a long session must not age it.
    later = dataclasses.replace(ctx, clock=ManualClock(ctx.clock.now() + LATER))
    async with transaction(sessions) as session:
        return await audit.audit_target(session, later, votes, target)


async def _mismatch_events(sessions: async_sessionmaker[AsyncSession]) -> list[dict[str, Any]]:
    async with sessions() as session:
        rows = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.subject == "ledger.audit_mismatch.v1")
            )
        ).all()
    return [r.envelope["data"] for r in rows]


async def test_audit_reports_each_tampering_with_its_difference(
    system: dict[str, Any],
    sessions: async_sessionmaker[AsyncSession],
    ctx: LedgerContext,
) -> None:
    a = await _open_and_vote(system, 6)
    b = await _open_and_vote(system, 3)
    ta, tb = f"proposal:{a}", f"proposal:{b}"
    for target, count in ((ta, 6), (tb, 3)):
        result = await _audit(system, sessions, ctx, target)
        assert result.consistent, result.details
        assert (result.ledger_count, result.service_count) == (count, count)
    assert await _mismatch_events(sessions) == []

    conn = await asyncpg.connect(to_plain_url(system["vote_url"]))
    try:
        ids = [
            r["id"]
            for r in await conn.fetch("SELECT id FROM votes WHERE target_id = $1 ORDER BY id", a)
        ]
        # 1. delete one agreement row
        await conn.execute("DELETE FROM votes WHERE id = $1", ids[0])
        result = await _audit(system, sessions, ctx, ta)
        assert not result.consistent
        assert (result.ledger_count, result.service_count) == (6, 5)
        assert result.details["missing_in_service"] == [str(ids[0])]
        assert result.details["missing_in_ledger"] == []
        # 2. change one row's target (a vote moved from proposal a to proposal b)
        await conn.execute("UPDATE votes SET target_id = $1 WHERE id = $2", b, ids[1])
        moved_from = await _audit(system, sessions, ctx, ta)
        moved_to = await _audit(system, sessions, ctx, tb)
        assert sorted(moved_from.details["missing_in_service"]) == sorted(
            [str(ids[0]), str(ids[1])]
        )
        assert moved_to.details["missing_in_ledger"] == [str(ids[1])]
        assert (moved_to.ledger_count, moved_to.service_count) == (3, 4)
        # 3. insert a row without an event
        forged = uuid.uuid4()
        await conn.execute(
            "INSERT INTO votes (id, target_type, target_id, citizen_id, choice, cast_at, voter_tag, record_hash, record) "
            "VALUES ($1, 'proposal', $2, $3, 'agree', now() - interval '1 hour', $4, $5, $6)",
            forged,
            b,
            uuid.uuid4(),
            "0" * 64,
            "0" * 64,
            b"{}",
        )
        inserted = await _audit(system, sessions, ctx, tb)
        assert sorted(inserted.details["missing_in_ledger"]) == sorted([str(ids[1]), str(forged)])
        assert inserted.details["service_tally"] == 3  # the counter was not touched either
    finally:
        await conn.close()
    events = await _mismatch_events(sessions)
    assert len(events) == 4  # one per changed finding
    assert {e["kind"] for e in events} == {"target"}
    assert events[0]["missing_in_service"] == [str(ids[0])]

    # The public audit endpoint shows the last result.
    async with running_app(create_ledger_app(ctx)) as api:
        shown = (await api.get(f"/v1/ledger/audit/targets/{a}")).json()
    assert shown["consistent"] is False
    assert (shown["ledger_count"], shown["service_count"]) == (6, 4)
    assert shown["details"]["missing_in_service"] == sorted([str(ids[0]), str(ids[1])])


async def test_votes_in_flight_are_not_reported(
    system: dict[str, Any], sessions: async_sessionmaker[AsyncSession], ctx: LedgerContext
) -> None:
    proposal = await _open_and_vote(system, 2)
    client: httpx.AsyncClient = system["vote_client"]
    response = await client.post(
        "/v1/votes/agreements",
        json={"proposal_id": str(proposal)},
        headers=system["tokens"].headers(),
    )
    assert response.status_code == 201  # not relayed to the ledger yet
    votes = audit.VoteServiceClient("http://vote", client=client)
    async with transaction(sessions) as session:
        now = await audit.audit_target(session, ctx, votes, f"proposal:{proposal}")
    assert now.consistent
    assert now.details["in_flight"] == 1
    later = await _audit(system, sessions, ctx, f"proposal:{proposal}")
    assert not later.consistent
    assert later.details["missing_in_ledger"] == [response.json()["vote_id"]]
    async with sessions() as session:
        assert (await ledger.recount(session, ctx.backend, f"proposal:{proposal}")).count == 2
