"""kill -9 the ledger's batching consumer mid-run, restart it: no record lost, none doubled, and
the tree-head sequence stays consistent (the proof from before the kill to after verifies)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import asyncpg
import nats
import pytest
from fabric_network import BackendChoice
from ledger_helpers import publish_votes, vote_cast
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ledger_svc import ledger
from ledger_svc.config import LedgerSettings
from ledger_svc.merkle import verify_consistency
from services import nats as nats_mod
from services.db import to_plain_url

RECORDS = 3000
BIN = Path(sys.executable).parent


async def _start(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            str(BIN / "ledger-svc"),
            "consume",
            env=env,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )


@pytest.mark.timeout(240)
async def test_kill_9_mid_batch_loses_and_doubles_nothing(
    ledger_settings: LedgerSettings,
    ledger_backend: BackendChoice,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    nc = await nats.connect(ledger_settings.nats_url)
    js = nc.jetstream()
    await nats_mod.ensure_streams(js)
    events = [vote_cast() for _ in range(RECORDS)]
    await publish_votes(js, events)
    await nc.close()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")},
        "LEDGER_DATABASE_URL": ledger_settings.database_url,
        "LEDGER_NATS_URL": ledger_settings.nats_url,
        "LEDGER_ENVIRONMENT": "test",
        "LEDGER_BATCH_MAX": "100",
        "LEDGER_BATCH_MS": "50",
        **ledger_backend.env(),
    }
    db = await asyncpg.connect(to_plain_url(ledger_settings.database_url))
    try:

        async def size() -> int:
            return int(await db.fetchval("SELECT coalesce(max(tree_size), 0) FROM tree_heads"))

        proc = await _start(env, tmp_path / "consume-1.log")
        while (current := await size()) < 600:
            await asyncio.sleep(0.01)
            assert proc.returncode is None, (tmp_path / "consume-1.log").read_text()
        proc.send_signal(signal.SIGKILL)
        assert await proc.wait() == -signal.SIGKILL
        before = await size()
        assert 600 <= before < RECORDS, "the kill must land mid-run"
        before_root = bytes(
            await db.fetchval("SELECT root FROM tree_heads WHERE tree_size = $1", before)
        )

        proc = await _start(env, tmp_path / "consume-2.log")
        deadline = asyncio.get_running_loop().time() + 120
        while await size() < RECORDS:
            assert asyncio.get_running_loop().time() < deadline, (
                "the restarted consumer did not catch up"
            )
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # anything doubled would land now
        proc.terminate()
        await proc.wait()

        assert await size() == RECORDS
        assert await db.fetchval("SELECT count(*) FROM ledger_records") == RECORDS
        assert await db.fetchval("SELECT count(DISTINCT vote_id) FROM ledger_records") == RECORDS
        stored = {r["vote_id"] for r in await db.fetch("SELECT vote_id FROM ledger_records")}
        assert stored == {e.vote_id for e in events}
        sizes = [
            r["tree_size"]
            for r in await db.fetch("SELECT tree_size FROM tree_heads ORDER BY tree_size")
        ]
        assert sizes == sorted(set(sizes))
        assert sizes[-1] == RECORDS
        after_root = bytes(
            await db.fetchval("SELECT root FROM tree_heads WHERE tree_size = $1", RECORDS)
        )
    finally:
        await db.close()
    async with sessions() as session:
        proof = await ledger.consistency(session, before, RECORDS)
        # Every head the log ever signed is consistent with the final one.
        for earlier in sizes[:: max(1, len(sizes) // 10)]:
            earlier_head = await ledger.head_at(session, earlier)
            assert earlier_head is not None
            assert verify_consistency(
                earlier,
                RECORDS,
                earlier_head.root,
                after_root,
                await ledger.consistency(session, earlier, RECORDS),
            )
    assert verify_consistency(before, RECORDS, before_root, after_root, proof)
    assert current >= 600
