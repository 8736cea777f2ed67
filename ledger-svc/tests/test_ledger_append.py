"""Appending batches to the Merkle log, receipts, proofs, duplicates and recounts (real Postgres)."""

from __future__ import annotations

import base64
import uuid

import pytest
from ledger_helpers import vote_cast
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ledger_svc import audit, ledger
from ledger_svc.bootstrap import LedgerContext
from ledger_svc.merkle import MerkleLog, leaf_hash, verify_consistency, verify_inclusion
from ledger_svc.models import DuplicateReport, LedgerRecord, OutboxMessage
from services.db import transaction
from services.events import VoteCast

Sessions = async_sessionmaker[AsyncSession]


async def _append(
    sessions: Sessions, ctx: LedgerContext, events: list[VoteCast]
) -> ledger.AppendResult:
    async with transaction(sessions) as session:
        return await ledger.append(session, ctx, events)


async def _subjects(sessions: Sessions) -> list[str]:
    async with sessions() as session:
        return list(
            (await session.scalars(select(OutboxMessage.subject).order_by(OutboxMessage.seq))).all()
        )


async def test_batches_build_one_log_with_signed_heads(
    sessions: Sessions, ctx: LedgerContext
) -> None:
    target = uuid.uuid4()
    events = [vote_cast(target) for _ in range(13)]
    first = await _append(sessions, ctx, events[:5])
    second = await _append(sessions, ctx, events[5:])
    assert (first.appended, second.appended) == (5, 8)
    assert first.head is not None
    assert second.head is not None
    assert (first.head.tree_size, second.head.tree_size) == (5, 13)
    reference = MerkleLog(base64.b64decode(e.record) for e in events)
    assert second.head.root == reference.root()
    async with sessions() as session:
        for index, event in enumerate(events):
            found = await ledger.receipt(session, event.vote_id)
            assert found.record.leaf_index == index
            assert verify_inclusion(
                leaf_hash(found.record.record), index, 13, found.audit_path, second.head.root
            )
            older = await ledger.receipt(session, event.vote_id, size=5) if index < 5 else None
            if older is not None:
                assert verify_inclusion(
                    leaf_hash(older.record.record), index, 5, older.audit_path, first.head.root
                )
        proof = await ledger.consistency(session, 5, 13)
    assert verify_consistency(5, 13, first.head.root, second.head.root, proof)
    assert await _subjects(sessions) == ["ledger.batch_committed.v1"] * 2
    # Each announcement names its batch's votes (vote-svc marks their receipts recorded).
    async with sessions() as session:
        envelopes = (
            await session.scalars(select(OutboxMessage.envelope).order_by(OutboxMessage.seq))
        ).all()
    assert [e["data"]["vote_ids"] for e in envelopes] == [
        [str(e.vote_id) for e in events[:5]],
        [str(e.vote_id) for e in events[5:]],
    ]


async def test_redelivered_records_are_not_appended_twice(
    sessions: Sessions, ctx: LedgerContext
) -> None:
    events = [vote_cast() for _ in range(4)]
    await _append(sessions, ctx, events)
    again = await _append(sessions, ctx, [*events, vote_cast()])
    assert (again.appended, again.already_recorded) == (1, 4)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(LedgerRecord)) == 5


async def test_second_record_of_one_person_on_one_target_is_refused_and_reported(
    sessions: Sessions, ctx: LedgerContext
) -> None:
    target, citizen = uuid.uuid4(), uuid.uuid4()
    first = vote_cast(target, citizen)
    twin = vote_cast(target, citizen)  # same tag, another vote id: the same person twice
    in_batch_twin = vote_cast(target, citizen)
    elsewhere = vote_cast(uuid.uuid4(), citizen)  # the same person on another target is fine
    result = await _append(sessions, ctx, [first, in_batch_twin])
    assert result.appended == 1
    assert result.duplicates == [in_batch_twin.vote_id]
    result = await _append(sessions, ctx, [twin, elsewhere])
    assert result.appended == 1
    assert result.duplicates == [twin.vote_id]
    async with sessions() as session:
        reports = (
            await session.scalars(select(DuplicateReport).order_by(DuplicateReport.refused_at))
        ).all()
        counted = await ledger.recount(session, ctx.backend, f"proposal:{target}")
    assert {r.vote_id for r in reports} == {twin.vote_id, in_batch_twin.vote_id}
    assert {r.first_vote_id for r in reports} == {first.vote_id}
    assert (counted.count, counted.duplicate_tags, counted.refused_duplicates) == (1, 0, 2)
    assert (await _subjects(sessions)).count("ledger.duplicate_refused.v1") == 2


async def test_records_that_do_not_match_their_event_are_refused(
    sessions: Sessions, ctx: LedgerContext
) -> None:
    good = vote_cast()
    forged = good.model_copy(update={"vote_id": uuid.uuid4()})
    garbage = good.model_copy(update={"vote_id": uuid.uuid4(), "record": "not base64!"})
    result = await _append(sessions, ctx, [forged, garbage])
    assert result.appended == 0
    assert set(result.invalid) == {forged.vote_id, garbage.vote_id}


async def test_recount_by_choice(sessions: Sessions, ctx: LedgerContext) -> None:
    forum = uuid.uuid4()
    await _append(
        sessions,
        ctx,
        [
            vote_cast(forum, target_type="forum", choice=c)
            for c in ["찬성", "찬성", "반대", "유보", "찬성"]
        ],
    )
    async with sessions() as session:
        counted = await ledger.recount(session, ctx.backend, f"forum:{forum}")
    assert counted.count == 5
    assert counted.by_choice == {"찬성": 3, "반대": 1, "유보": 1}


async def test_tampering_with_ledger_tables_is_detected(
    sessions: Sessions, ctx: LedgerContext
) -> None:
    events = [vote_cast() for _ in range(9)]
    await _append(sessions, ctx, events[:4])
    await _append(sessions, ctx, events[4:])
    async with transaction(sessions) as session:
        assert (await audit.audit_integrity(session, ctx)).consistent
    # Rewrite one stored record (a different choice) without touching anything else.
    async with transaction(sessions) as session:
        await session.execute(
            text(
                "UPDATE ledger_records SET record = convert_to(replace(convert_from(record, 'UTF8'), "
                "'\"agree\"', '\"disagree\"'), 'UTF8') WHERE leaf_index = 6"
            )
        )
    async with transaction(sessions) as session:
        result = await audit.audit_integrity(session, ctx)
    assert not result.consistent
    assert any("signed root" in p for p in result.details["problems"])
    assert (await _subjects(sessions))[-1] == "ledger.audit_mismatch.v1"
    async with sessions() as session:
        assert not await ctx.backend.verify_anchor(
            session, 2
        )  # the batch no longer hashes to its anchor
        assert await ctx.backend.verify_anchor(session, 1)


async def test_deleting_a_record_is_detected(sessions: Sessions, ctx: LedgerContext) -> None:
    await _append(sessions, ctx, [vote_cast() for _ in range(5)])
    async with transaction(sessions) as session:
        await session.execute(text("DELETE FROM ledger_records WHERE leaf_index = 2"))
    async with transaction(sessions) as session:
        result = await audit.audit_integrity(session, ctx)
    assert not result.consistent
    assert result.details["problems"] == ["record 2 is missing"]


@pytest.mark.parametrize("size", [None, 3])
async def test_unknown_vote_has_no_receipt(
    sessions: Sessions, ctx: LedgerContext, size: int | None
) -> None:
    from services.problems import ProblemError

    await _append(sessions, ctx, [vote_cast() for _ in range(3)])
    async with sessions() as session:
        with pytest.raises(ProblemError) as missing:
            await ledger.receipt(session, uuid.uuid4(), size=size)
    assert missing.value.status == 404


async def test_rotated_key_signs_new_heads_and_old_heads_still_verify(
    sessions: Sessions, ctx: LedgerContext
) -> None:
    from ledger_svc import keys
    from ledger_svc.treehead import keys_by_id, verify_head

    first = await _append(sessions, ctx, [vote_cast() for _ in range(2)])
    async with transaction(sessions) as session:
        new_kid = await keys.rotate(session, ctx)
    second = await _append(sessions, ctx, [vote_cast() for _ in range(2)])
    assert first.head is not None
    assert second.head is not None
    assert first.head.key_id != new_kid == second.head.key_id
    async with sessions() as session:
        published = await keys.published_keys(session)
        self_check = await ledger.self_check(session, keys_by_id(published))
    public = keys_by_id(published)
    assert {k["status"] for k in published} == {"active", "retired"}
    assert verify_head(first.head, public[first.head.key_id])
    assert verify_head(second.head, public[second.head.key_id])
    assert not verify_head(first.head, public[second.head.key_id])
    assert self_check == []
