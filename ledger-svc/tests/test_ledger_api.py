"""ledger-svc over HTTP: receipts that the offline verifier accepts, heads, proofs, keys,
recounts; and bad input."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest
from ledger_helpers import vote_cast
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ledger_svc import ledger
from ledger_svc.bootstrap import LedgerContext
from ledger_svc.cli import main as cli_main
from ledger_svc.merkle import verify_consistency
from ledger_svc.verify import verify_receipt
from services.db import transaction

Sessions = async_sessionmaker[AsyncSession]


async def test_empty_ledger(client: httpx.AsyncClient) -> None:
    head = await client.get("/v1/ledger/head")
    assert head.status_code == 404
    assert head.json()["type"].endswith("/no-tree-head-yet")
    assert (await client.get(f"/v1/ledger/receipts/{uuid.uuid4()}")).status_code == 404


async def test_receipts_verify_offline_against_the_current_head(
    client: httpx.AsyncClient,
    sessions: Sessions,
    ctx: LedgerContext,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = uuid.uuid4()
    events = [vote_cast(target) for _ in range(7)]
    async with transaction(sessions) as session:
        await ledger.append(session, ctx, events[:3])
    old_head = (await client.get("/v1/ledger/head")).json()
    async with transaction(sessions) as session:
        await ledger.append(session, ctx, events[3:])
    head = (await client.get("/v1/ledger/head")).json()
    keys = (await client.get("/v1/ledger/keys")).json()
    assert head["tree_size"] == 7
    assert old_head["tree_size"] == 3
    assert [k["kty"] for k in keys["keys"]] == ["OKP"]
    for event in events:
        receipt = (await client.get(f"/v1/ledger/receipts/{event.vote_id}")).json()
        assert receipt["tree_size"] == 7
        assert receipt["anchor"]["backend"] == ctx.backend.name
        result = verify_receipt(receipt, head, keys["keys"])
        assert result.ok, result.failures
    # A receipt fetched at the old head verifies against the new one with a consistency proof.
    early = (
        await client.get(f"/v1/ledger/receipts/{events[0].vote_id}", params={"tree_size": 3})
    ).json()
    proof = (await client.get("/v1/ledger/proofs/consistency", params={"from": 3, "to": 7})).json()
    assert verify_consistency(
        3,
        7,
        bytes.fromhex(old_head["root"]),
        bytes.fromhex(head["root"]),
        [bytes.fromhex(h) for h in proof["proof"]],
    )
    early["consistency"] = proof | {"from_size": 3, "to_size": 7}
    assert verify_receipt(early, head, keys["keys"]).ok
    # The command-line verifier, as a citizen would run it.
    (tmp_path / "receipt.json").write_text(json.dumps(early))
    (tmp_path / "head.json").write_text(json.dumps(head))
    (tmp_path / "keys.json").write_text(json.dumps(keys))
    code = cli_main(
        [
            "verify-receipt",
            str(tmp_path / "receipt.json"),
            "--head",
            str(tmp_path / "head.json"),
            "--keys",
            str(tmp_path / "keys.json"),
        ]
    )
    assert code == 0, capsys.readouterr().out
    # A tampered receipt fails.
    forged = dict(early, leaf_index=1)
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    assert (
        cli_main(
            ["verify-receipt", str(tmp_path / "forged.json"), "--head", str(tmp_path / "head.json")]
        )
        == 1
    )


async def test_heads_recount_and_bad_queries(
    client: httpx.AsyncClient, sessions: Sessions, ctx: LedgerContext
) -> None:
    forum = uuid.uuid4()
    async with transaction(sessions) as session:
        await ledger.append(
            session,
            ctx,
            [vote_cast(forum, target_type="forum", choice=c) for c in ("찬성", "반대")],
        )
    assert (await client.get("/v1/ledger/heads/2")).json()["tree_size"] == 2
    assert (await client.get("/v1/ledger/heads/3")).status_code == 404
    recount = (await client.get(f"/v1/ledger/recount/forum/{forum}")).json()
    assert recount["count"] == 2
    assert recount["by_choice"] == {"찬성": 1, "반대": 1}
    bad: list[dict[str, str | int]] = [
        {"from": 0, "to": 2},
        {"from": 2, "to": 1},
        {"from": "x", "to": 2},
        {},
    ]
    for params in bad:
        response = await client.get("/v1/ledger/proofs/consistency", params=params)
        assert response.status_code == 422, params
        assert response.headers["content-type"] == "application/problem+json"
    assert (
        await client.get("/v1/ledger/proofs/consistency", params={"from": 1, "to": 2})
    ).status_code == 404
    assert (await client.get(f"/v1/ledger/recount/ballot/{forum}")).status_code == 422
    assert (await client.get("/v1/ledger/receipts/not-a-uuid")).status_code == 422
    assert (await client.get(f"/v1/ledger/audit/targets/{forum}")).status_code == 404


async def test_public_reads_carry_etags_and_are_fresh_the_moment_a_batch_lands(
    client: httpx.AsyncClient, sessions: Sessions, ctx: LedgerContext
) -> None:
    target = uuid.uuid4()
    events = [vote_cast(target) for _ in range(3)]
    async with transaction(sessions) as session:
        await ledger.append(session, ctx, events[:2])
    head = await client.get("/v1/ledger/head")
    assert head.headers["cache-control"] == "public, max-age=1, stale-while-revalidate=5"
    etag = head.headers["etag"]
    unchanged = await client.get("/v1/ledger/head", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    receipt = await client.get(f"/v1/ledger/receipts/{events[0].vote_id}")
    assert receipt.json()["tree_size"] == 2
    async with transaction(sessions) as session:
        await ledger.append(session, ctx, events[2:])
    # The copies are keyed on the log's size: the next read sees the new batch at once.
    changed = await client.get("/v1/ledger/head", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json()["tree_size"] == 3
    assert changed.headers["etag"] != etag
    receipt = await client.get(f"/v1/ledger/receipts/{events[0].vote_id}")
    assert receipt.json()["tree_size"] == 3
    fixed = await client.get("/v1/ledger/heads/2")
    assert fixed.headers["cache-control"] == "public, max-age=86400, stale-while-revalidate=0"
    signed_in = await client.get("/v1/ledger/head", headers={"Authorization": "Bearer x"})
    assert signed_in.headers["cache-control"] == "private, no-store"
