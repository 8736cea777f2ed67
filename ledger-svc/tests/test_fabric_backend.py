"""The Fabric backend on a real two-organisation network (deploy/fabric/fabric.sh, started once per
session by conftest.py): batches anchored in blocks, the chain's own answers (GetBatch,
CountTarget, GetRecord, History, chaincode events), duplicates refused on-chain, idempotent
retries, the endorsement policy enforced by the network, receipts confirmed on-chain, and an
outage of the peers while votes keep arriving."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import nats
import pytest
from fabric_network import BackendChoice, FabricNetwork
from ledger_fixtures import ledger_api
from ledger_helpers import KEY, publish_votes, vote_cast
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ledger_svc import ledger
from ledger_svc.backend import FabricBackend, batch_root
from ledger_svc.bootstrap import LedgerContext, bootstrap
from ledger_svc.cli import main as cli_main
from ledger_svc.config import LedgerSettings
from ledger_svc.consumers import records_consumer
from ledger_svc.fabric import (
    ChaincodeError,
    CommitFailed,
    Gateway,
    RetryPolicy,
    VotesContract,
    load_profile,
)
from ledger_svc.fabric.contract import batch_id
from ledger_svc.fabric.gateway import VALID
from ledger_svc.models import Batch, LedgerRecord
from services import nats as nats_mod
from services.canonical import VoteRecord, voter_tag
from services.db import transaction
from services.events import VoteCast

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
def ledger_backend(fabric_network: FabricNetwork) -> BackendChoice:
    """Every test here runs against Fabric only."""
    return BackendChoice("fabric", fabric_network)


@pytest.fixture
async def contract(fabric_network: FabricNetwork) -> AsyncIterator[VotesContract]:
    gateway = Gateway(load_profile(fabric_network.profile))
    yield VotesContract(gateway)
    await gateway.close()


async def _until(predicate: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


def _fabric(ctx: LedgerContext) -> FabricBackend:
    assert isinstance(ctx.backend, FabricBackend)
    return ctx.backend


def _record(target: str, citizen: uuid.UUID, vote_id: uuid.UUID | None = None) -> VoteRecord:
    return VoteRecord.build(
        target=target,
        voter_tag=voter_tag(KEY, citizen, target),
        vote_id=vote_id or uuid.uuid4(),
        cast_at=datetime.now(UTC),
        choice="agree",
    )


async def test_each_batch_is_one_transaction_in_a_block_the_chain_vouches_for(
    client: httpx.AsyncClient, sessions: Sessions, ctx: LedgerContext, tmp_path: Path
) -> None:
    backend = _fabric(ctx)
    target_id = uuid.uuid4()
    target = f"proposal:{target_id}"
    events = [vote_cast(target_id) for _ in range(7)]
    async with transaction(sessions) as session:
        await ledger.append(session, ctx, events[:3])
    async with transaction(sessions) as session:
        await ledger.append(session, ctx, events[3:])
    async with sessions() as session:
        batches = (await session.scalars(select(Batch).order_by(Batch.seq))).all()
        assert [(b.backend, b.channel, b.size) for b in batches] == [
            ("fabric", "votes", 3),
            ("fabric", "votes", 4),
        ]
        assert all(len(b.tx_id) == 64 for b in batches)
        assert batches[0].block is not None
        assert batches[1].block is not None
        assert 0 < batches[0].block < batches[1].block
        for b in batches:
            assert await backend.verify_anchor(session, b.seq)
        stored_count = await session.scalar(select(func.count()).select_from(LedgerRecord))

    # The chain's own view: each batch under its id, with our root, in our transaction, VALID
    # in our block; the counter, the records and their history.
    gateway = backend.contract.gateway
    for b in batches:
        stored = await backend.contract.get_batch(batch_id(b.seq, b.batch_root))
        assert stored is not None
        assert (stored.root, stored.size, stored.tx_id, stored.recorded) == (
            b.batch_root.hex(),
            b.size,
            b.tx_id,
            b.size,
        )
        status = await gateway.commit_status(b.tx_id)
        assert (status.code, status.block) == (VALID, b.block)
    assert await backend.contract.count_target(target) == 7 == stored_count
    async with sessions() as session:
        on_chain = await backend.records_for(session, target)
    assert sorted(r.encode() for r in on_chain) == sorted(
        base64.b64decode(e.record) for e in events
    )
    first = events[0]
    record = await backend.contract.get_record(target, first.voter_tag)
    assert record is not None
    assert (record.vote_id, record.tx_id) == (str(first.vote_id), batches[0].tx_id)
    history = await backend.contract.history(target, first.voter_tag)
    assert [h["tx_id"] for h in history] == [batches[0].tx_id]

    # The chaincode event of the first batch, read back from its block.
    async with asyncio.timeout(30):
        async for event in gateway.chaincode_events(start_block=batches[0].block):
            assert event.name == "BatchRecorded"
            assert event.tx_id == batches[0].tx_id
            assert event.block == batches[0].block
            payload = json.loads(event.payload)
            assert payload["batch_id"] == batch_id(1, batches[0].batch_root)
            assert (payload["size"], payload["recorded"], payload["duplicates"]) == (3, 3, 0)
            break

    # The receipt names the channel, the transaction and the block, and the verifier confirms
    # it on-chain through the auditor organisation's own peer.
    receipt = (await client.get(f"/v1/ledger/receipts/{first.vote_id}")).json()
    anchor = receipt["anchor"]
    assert (anchor["backend"], anchor["channel"], anchor["tx_id"], anchor["block"]) == (
        "fabric",
        "votes",
        batches[0].tx_id,
        batches[0].block,
    )
    assert anchor["batch_id"] == batch_id(1, batches[0].batch_root)
    (tmp_path / "receipt.json").write_text(json.dumps(receipt))
    (tmp_path / "head.json").write_text((await client.get("/v1/ledger/head")).text)
    (tmp_path / "keys.json").write_text((await client.get("/v1/ledger/keys")).text)
    profile = str(gateway.profile.path)
    args = [
        "verify-receipt",
        str(tmp_path / "receipt.json"),
        "--head",
        str(tmp_path / "head.json"),
        "--keys",
        str(tmp_path / "keys.json"),
        "--fabric",
        profile,
        "--fabric-org",
        "CitizenAuditMSP",
    ]
    assert await asyncio.to_thread(cli_main, args) == 0
    # A receipt whose batch root was changed is refused by the chain's answer.
    forged = json.loads(json.dumps(receipt))
    forged["anchor"]["batch_root"] = "00" * 32
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    forged_args = [args[0], str(tmp_path / "forged.json"), *args[2:]]
    assert await asyncio.to_thread(cli_main, forged_args) == 1
    # The recount through the API reads the chain.
    recount = (await client.get(f"/v1/ledger/recount/proposal/{target_id}")).json()
    assert recount["count"] == 7


async def test_cli_output_names_each_on_chain_check(
    client: httpx.AsyncClient,
    sessions: Sessions,
    ctx: LedgerContext,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    event = vote_cast()
    async with transaction(sessions) as session:
        await ledger.append(session, ctx, [event])
    receipt = (await client.get(f"/v1/ledger/receipts/{event.vote_id}")).json()
    (tmp_path / "r.json").write_text(json.dumps(receipt))
    (tmp_path / "h.json").write_text((await client.get("/v1/ledger/head")).text)
    profile = str(_fabric(ctx).contract.gateway.profile.path)
    code = await asyncio.to_thread(
        cli_main,
        [
            "verify-receipt",
            str(tmp_path / "r.json"),
            "--head",
            str(tmp_path / "h.json"),
            "--fabric",
            profile,
        ],
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "the chain's batch" in out
    assert f"transaction {receipt['anchor']['tx_id']} is VALID in block" in out
    assert "record byte for byte" in out
    assert out.rstrip().endswith("RECEIPT VERIFIED")


async def test_a_batch_rewritten_consistently_in_our_database_no_longer_matches_the_chain(
    sessions: Sessions, ctx: LedgerContext
) -> None:
    """Rewriting a record *and* its batch root in ledger-svc's tables passes the database's own
    batch check; the chain still holds the original root, so the anchor no longer verifies."""
    backend = _fabric(ctx)
    events = [vote_cast() for _ in range(3)]
    async with transaction(sessions) as session:
        await ledger.append(session, ctx, events)
    async with transaction(sessions) as session:
        rows = (await session.scalars(select(LedgerRecord).order_by(LedgerRecord.leaf_index))).all()
        forged = VoteRecord.decode(rows[1].record)
        forged = VoteRecord.build(
            target=forged.target,
            voter_tag=forged.voter_tag,
            vote_id=forged.vote_id,
            cast_at=datetime.now(UTC),
            choice="disagree",
        )
        rows[1].record = forged.encode()
        batch = await session.get(Batch, 1)
        assert batch is not None
        original_root = batch.batch_root
        records = [VoteRecord.decode(r.record) for r in rows]
        batch.batch_root = batch_root(records)  # consistent with the rewritten records
        rewritten_root = batch.batch_root
    async with sessions() as session:
        assert not await backend.verify_anchor(session, 1)
    # The chain knows no batch with the rewritten root; it still holds the original one, and
    # the original record byte for byte.
    assert await backend.contract.get_batch(batch_id(1, rewritten_root)) is None
    original = await backend.contract.get_batch(batch_id(1, original_root))
    assert original is not None
    assert original.root == original_root.hex() != rewritten_root.hex()
    on_chain = await backend.contract.get_record_by_vote(str(forged.vote_id))
    assert on_chain is not None
    assert on_chain.record == base64.b64decode(events[1].record) != forged.encode()


async def test_the_chain_refuses_a_second_record_of_one_person_and_retries_are_idempotent(
    contract: VotesContract,
) -> None:
    target = f"proposal:{uuid.uuid4()}"
    alice, bob = uuid.uuid4(), uuid.uuid4()
    first = _record(target, alice)
    twin = _record(target, alice)  # same (target, voter_tag), another vote id
    other = _record(target, bob)
    records = [first, twin, other]
    root = batch_root(records)
    recorded = await contract.record_batch(1, root, records)
    assert recorded.recorded == [str(first.vote_id), str(other.vote_id)]
    assert [(d.vote_id, d.first_vote_id) for d in recorded.duplicates] == [
        (str(twin.vote_id), str(first.vote_id))
    ]
    assert await contract.count_target(target) == 2
    stored = await contract.get_record(target, first.voter_tag)
    assert stored is not None
    assert stored.vote_id == str(first.vote_id)

    # The same batch again (a retry after a lost answer): the stored result, no new transaction.
    again = await contract.record_batch(1, root, records)
    assert (again.tx_id, again.block) == (recorded.tx_id, recorded.block)
    assert again.recorded == recorded.recorded
    assert await contract.count_target(target) == 2

    # The twin alone in a later batch is refused again; the first vote again is "already".
    later = [twin, first]
    result = await contract.record_batch(2, batch_root(later), later)
    assert [d.vote_id for d in result.duplicates] == [str(twin.vote_id)]
    assert result.already_recorded == [str(first.vote_id)]
    assert result.recorded == []
    assert result.tx_id != recorded.tx_id
    assert await contract.count_target(target) == 2

    # A batch whose root does not match its records is an error of the chaincode.
    with pytest.raises(ChaincodeError, match="merkle root mismatch"):
        await contract.record_batch(3, b"\x00" * 32, [_record(target, uuid.uuid4())])


async def test_a_transaction_endorsed_by_one_organisation_is_rejected_by_the_network(
    contract: VotesContract,
) -> None:
    target = f"proposal:{uuid.uuid4()}"
    records = [_record(target, uuid.uuid4()) for _ in range(2)]
    root = batch_root(records)
    with pytest.raises(CommitFailed) as rejected:
        await contract.record_batch(1, root, records, endorsing_orgs=["SeoulCityMSP"])
    assert rejected.value.code_name == "ENDORSEMENT_POLICY_FAILURE"
    status = await contract.gateway.commit_status(rejected.value.tx_id)
    assert status.code_name == "ENDORSEMENT_POLICY_FAILURE"
    # Nothing of it was applied.
    assert await contract.get_batch(batch_id(1, root)) is None
    assert await contract.count_target(target) == 0
    assert await contract.get_record_by_vote(str(records[0].vote_id)) is None
    # Endorsed as the policy requires (the gateway picks both organisations), it commits.
    recorded = await contract.record_batch(1, root, records)
    assert len(recorded.recorded) == 2
    assert await contract.count_target(target) == 2


async def test_readyz_reports_fabric(client: httpx.AsyncClient) -> None:
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["fabric"] == "ok"


@pytest.mark.timeout(600)
async def test_peers_down_while_votes_arrive_then_everything_is_anchored_once(
    fabric_network: FabricNetwork,
    ledger_settings: LedgerSettings,
    sessions: Sessions,
) -> None:
    """The consumer keeps the votes (unacked: the runner pauses and holds its batch) while the
    peers are down, the API's readyz says why, and once the peers return every vote is anchored
    exactly once."""
    settings = ledger_settings.model_copy(
        update={"fabric_retry_seconds": 2.0, "batch_max": 20, "batch_ms": 50}
    )
    backend = FabricBackend.connect(
        str(fabric_network.profile), retry=RetryPolicy(budget_seconds=2.0, max_delay=0.5)
    )
    ctx = bootstrap(settings, backend=backend)
    nc = await nats.connect(settings.nats_url)
    js = nc.jetstream()
    await nats_mod.ensure_streams(js)
    consumer = records_consumer(ctx, sessions, js)
    await consumer.setup()
    target_id = uuid.uuid4()
    events = [vote_cast(target_id) for _ in range(120)]

    async def publish(batch: list[VoteCast]) -> None:
        await publish_votes(js, batch)

    async def count() -> int:
        async with sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(LedgerRecord)) or 0)

    async def anchored(n: int) -> bool:
        return await count() >= n

    async def consumer_noticed() -> bool:
        return consumer.paused is not None

    stop = asyncio.Event()
    running = asyncio.create_task(consumer.run(stop))
    try:
        await publish(events[:40])
        await _until(lambda: anchored(40), 60, "the first 40 votes to be anchored")

        await asyncio.to_thread(fabric_network.stop_peers)
        try:
            await publish(events[40:80])
            async with ledger_api(settings) as api:
                async with asyncio.timeout(60):
                    while True:
                        ready = await api.get("/readyz")
                        # Degraded, not unready: the API still serves receipts from its database.
                        assert ready.status_code == 200, ready.text
                        if ready.json()["status"] == "degraded":
                            break
                        await asyncio.sleep(0.5)
                check = ready.json()["checks"]
                assert check["fabric"].startswith("unreachable: "), check
                assert "peer0.seoulcity.example" in check["fabric"]
                assert (check["database"], check["nats"]) == ("ok", "ok")
            await _until(consumer_noticed, 60, "the consumer to notice the outage")
            await publish(events[80:])
            await asyncio.sleep(3)
            assert await count() == 40  # nothing appended while the chain is away
        finally:
            await asyncio.to_thread(fabric_network.start_peers)

        await _until(lambda: anchored(len(events)), 240, "every vote to be anchored")
        await asyncio.sleep(2)  # anything doubled would land now
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(running, timeout=60)
        await nc.close()

    assert consumer.paused is None
    target = f"proposal:{target_id}"
    async with sessions() as session:
        ids = (await session.scalars(select(LedgerRecord.vote_id))).all()
        assert len(ids) == len(set(ids)) == len(events)
        assert set(ids) == {e.vote_id for e in events}
        seqs = (await session.scalars(select(Batch.seq).order_by(Batch.seq))).all()
        for seq in seqs:
            assert await backend.verify_anchor(session, seq)
    assert await backend.contract.count_target(target) == len(events)
    on_chain = await backend.contract.records_by_target(target)
    assert sorted(r.vote_id for r in on_chain) == sorted(str(e.vote_id) for e in events)
    await backend.aclose()
