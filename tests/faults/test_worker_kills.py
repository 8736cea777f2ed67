"""Fault test: kill -9 the vote outbox relay and the proposal tally consumer mid-run, restart
them, and check that no event was lost or doubled: every accepted agreement is on the VOTE
stream exactly once (vote.cast and vote.tally_changed), and proposal-svc's count equals the rows."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import pytest

from proposal_svc import service as proposal_service
from proposal_svc.bootstrap import ProposalContext
from proposal_svc.config import ProposalSettings
from proposal_svc.schemas import ProposalCreate
from services import nats as nats_mod
from services.auth import Principal
from services.clock import SystemClock
from services.db import create_engine, create_sessionmaker, to_plain_url, transaction
from services.outbox import OutboxRelay
from services_dev.localrt.postgres import EmbeddedPostgres
from services_dev.testing import running_app
from services_dev.testing.plugin import clone_database, migrated_template
from services_dev.testing.tokens import TestTokens
from vote_svc.bootstrap import bootstrap as vote_bootstrap
from vote_svc.config import VoteSettings
from vote_svc.main import create_app as create_vote_app

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
AGREEMENTS = 600


class Worker:
    """A worker process (``<svc>-svc relay|consume``) we can kill -9 and start again."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.command = command
        self.env = env
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *self.command, env=self.env, stdout=out, stderr=asyncio.subprocess.STDOUT
            )

    async def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        assert await self.proc.wait() == -signal.SIGKILL

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 20)


async def _until(what: str, check: Callable[[], Awaitable[bool]], within: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="session")
def templates(pg_server: EmbeddedPostgres) -> dict[str, str]:
    return {
        "vote": migrated_template(
            pg_server, "faults_vote_template", ROOT / "vote-svc/src/vote_svc/migrations"
        ),
        "proposal": migrated_template(
            pg_server, "faults_proposal_template", ROOT / "proposal-svc/src/proposal_svc/migrations"
        ),
    }


@pytest.fixture
async def databases(pg_server: EmbeddedPostgres, templates: dict[str, str]) -> dict[str, str]:
    return {name: await clone_database(pg_server, template) for name, template in templates.items()}


async def _stream_event_ids(js: Any, stream: str, subject: str) -> list[str]:
    """Every message id on ``subject``, read back with an ephemeral ordered consumer."""
    ids: list[str] = []
    sub = await js.subscribe(subject, stream=stream, ordered_consumer=True)
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=1.0)
            except nats.errors.TimeoutError:
                break
            ids.append(json.loads(msg.data)["id"])
    finally:
        await sub.unsubscribe()
    return ids


@pytest.mark.timeout(300)
async def test_killed_relay_and_consumer_lose_and_double_nothing(
    databases: dict[str, str], service_env: dict[str, str], tmp_path: Path
) -> None:
    nats_url = service_env["nats_url"]
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await nats_mod.ensure_streams(js)

    # A proposal opens; its proposal.opened reaches vote-svc's target read model.
    proposal_settings = ProposalSettings(
        environment="test", database_url=databases["proposal"], nats_url=nats_url
    )
    proposal_engine = create_engine(databases["proposal"])
    proposal_sessions = create_sessionmaker(proposal_engine)
    ctx = ProposalContext(settings=proposal_settings, clock=SystemClock())
    async with transaction(proposal_sessions) as session:
        proposal = await proposal_service.proposals.create_proposal(
            session,
            ctx,
            Principal(uuid.uuid4(), frozenset({"citizen"}), None, "t"),
            ProposalCreate(title="정전 대비 비상 조명", body="본문", category="safety"),
            lemmas=[],
            search_text="정전",
        )
    await OutboxRelay(proposal_sessions, js).relay_once()

    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("VOTE_", "PROPOSAL_"))}
    vote_env = {
        **base_env,
        "VOTE_DATABASE_URL": databases["vote"],
        "VOTE_NATS_URL": nats_url,
        "VOTE_ENVIRONMENT": "test",
    }
    proposal_env = {
        **base_env,
        "PROPOSAL_DATABASE_URL": databases["proposal"],
        "PROPOSAL_NATS_URL": nats_url,
        "PROPOSAL_ENVIRONMENT": "test",
    }
    vote_consumer = Worker(
        [str(BIN / "vote-svc"), "consume"], vote_env, tmp_path / "vote-consume.log"
    )
    vote_relay = Worker([str(BIN / "vote-svc"), "relay"], vote_env, tmp_path / "vote-relay.log")
    tally_consumer = Worker(
        [str(BIN / "proposal-svc"), "consume"], proposal_env, tmp_path / "proposal-consume.log"
    )
    vote_db = await asyncpg.connect(to_plain_url(databases["vote"]))
    proposal_db = await asyncpg.connect(to_plain_url(databases["proposal"]))
    try:
        await vote_consumer.start()

        async def target_open() -> bool:
            return bool(
                await vote_db.fetchval("SELECT count(*) FROM targets WHERE status = 'open'")
            )

        await _until("vote-svc to open the proposal", target_open)
        await vote_relay.start()
        await tally_consumer.start()

        tokens = TestTokens()
        settings = VoteSettings(
            environment="test", database_url=databases["vote"], nats_url=nats_url
        )
        async with running_app(
            create_vote_app(vote_bootstrap(settings), key_source=tokens)
        ) as client:

            async def agree(i: int) -> httpx.Response:
                return await client.post(
                    "/v1/votes/agreements",
                    json={"proposal_id": str(proposal.id)},
                    headers=tokens.headers(),
                )

            first = await asyncio.gather(*(agree(i) for i in range(AGREEMENTS // 2)))

            async def some_published() -> bool:
                sent = await vote_db.fetchval(
                    "SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL"
                )
                return bool(sent and sent > 50)

            await _until("the relay to publish some events", some_published)
            await vote_relay.kill9()

            async def some_counted() -> bool:
                count = await proposal_db.fetchval("SELECT agreement_count FROM proposals")
                return bool(count and count > 20)

            await _until("the consumer to count some agreements", some_counted)
            await tally_consumer.kill9()

            # More agreements while both are down, then both come back.
            second = await asyncio.gather(*(agree(i) for i in range(AGREEMENTS // 2)))
            await vote_relay.start()
            await tally_consumer.start()
        assert [r.status_code for r in first + second] == [201] * AGREEMENTS

        rows = await vote_db.fetchval("SELECT count(*) FROM votes")
        assert rows == AGREEMENTS

        async def all_counted() -> bool:
            return bool(
                await proposal_db.fetchval("SELECT agreement_count FROM proposals") == AGREEMENTS
            )

        await _until("proposal-svc to count every agreement", all_counted)

        async def all_sent() -> bool:
            return bool(
                await vote_db.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
            )

        await _until("every outbox row to be sent", all_sent)
        cast_ids = await _stream_event_ids(js, "VOTE", "vote.cast.v1")
        tally_ids = await _stream_event_ids(js, "VOTE", "vote.tally_changed.v1")
        assert len(cast_ids) == len(set(cast_ids)) == AGREEMENTS  # none lost, none doubled
        assert len(tally_ids) == len(set(tally_ids)) == AGREEMENTS

        # Messages the killed consumer had fetched but not acked come back after the ack wait
        # (30 s); they must each be handled once, and nothing may be handled twice.
        async def all_handled() -> bool:
            handled = await proposal_db.fetchval(
                "SELECT count(*) FROM inbox WHERE consumer = 'proposal-svc-tallies'"
            )
            assert handled <= AGREEMENTS
            return bool(handled == AGREEMENTS)

        await _until("every tally event to be handled", all_handled, within=90.0)
    finally:
        for worker in (vote_consumer, vote_relay, tally_consumer):
            await worker.stop()
        await vote_db.close()
        await proposal_db.close()
        await proposal_engine.dispose()
        await nc.close()
