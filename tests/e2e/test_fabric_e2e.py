"""End to end with ``LEDGER_BACKEND=fabric``: ``make run`` starts the local two-organisation Fabric
network (deploy/fabric/fabric.sh, ports +300 and its data under the runtime's data directory)
before the services, and every agreement made through Caddy ends in a Fabric block.

- receipts carry ``anchor {backend: fabric, channel, tx_id, block}`` and verify offline; the
  chain confirms them (batch root, valid transaction in that block, the record byte for byte);
- ``CountTarget`` on the chain equals vote-svc's tally;
- a second record of one (target, voter_tag), sent straight to the chain, is refused there;
- the peers stopped for 30 s while agreements keep coming: ledger-svc's readyz says why, and
  once the peers are back every vote is anchored, none twice.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from e2e_runtime import Runtime, leftovers
from fabric_network import FabricNetwork, FabricNetworkError
from test_participation import Platform

from ledger_svc.backend import batch_root
from ledger_svc.fabric import Gateway, VotesContract, load_profile
from ledger_svc.fabric.receipts import check_on_chain
from ledger_svc.verify import VerificationResult, verify_receipt
from services.canonical import VoteRecord
from services_dev.localrt.run import LocalConfig, build_env

pytestmark = pytest.mark.e2e

PORT_OFFSET = 300
#: The launcher runs `fabric.sh up` first, which builds Fabric from source on a cold cache.
STARTUP = 1500.0
CONCURRENCY = 16
OUTAGE_SECONDS = 30.0


class FabricPlatform(Platform):
    """The e2e client of test_participation, plus what this scenario asks of the platform."""

    async def token(self, seed: str) -> str:
        return str((await self.sign_in(seed))["access_token"])

    async def propose(self, token: str, title: str) -> str:
        created = await self.call(
            "POST",
            "/v1/proposals",
            token,
            json={"title": title, "body": "Fabric 원장 시험 제안입니다.", "category": "transport"},
        )
        assert created.status_code == 201, created.text
        pid = str(created.json()["id"])

        async def votable() -> bool:
            tally = await self.call("GET", f"/v1/votes/tallies/proposals/{pid}")
            return tally.status_code == 200

        await self.eventually("the proposal to be open for agreements", votable, 120)
        return pid

    async def agree_one(self, token: str, pid: str) -> str:
        response = await self.call("POST", "/v1/votes/agreements", token, json={"proposal_id": pid})
        assert response.status_code == 201, response.text
        return str(response.json()["vote_id"])

    async def tally(self, pid: str) -> int:
        return int(
            (await self.call("GET", f"/v1/votes/tallies/proposals/{pid}")).json()["agreements"]
        )

    async def tree_size(self) -> int:
        head = await self.call("GET", "/v1/ledger/head")
        return int(head.json()["tree_size"]) if head.status_code == 200 else 0


async def _receipts_anchored_in_fabric(
    platform: Platform, contract: VotesContract, vote_ids: list[str]
) -> None:
    head = (await platform.call("GET", "/v1/ledger/head")).json()
    keys = (await platform.call("GET", "/v1/ledger/keys")).json()["keys"]
    blocks = set()
    for i, vote_id in enumerate(vote_ids):
        response = await platform.call(
            "GET", f"/v1/ledger/receipts/{vote_id}", params={"tree_size": head["tree_size"]}
        )
        assert response.status_code == 200, response.text
        receipt = response.json()
        anchor = receipt["anchor"]
        assert anchor["backend"] == "fabric"
        assert anchor["channel"] == "votes"
        assert len(anchor["tx_id"]) == 64
        assert isinstance(anchor["block"], int)
        assert anchor["block"] > 0
        blocks.add(anchor["block"])
        offline = verify_receipt(receipt, head, keys)
        assert offline.ok, offline.failures
        if i % 10 == 0:  # and on the chain, through the auditor organisation's peer
            on_chain = VerificationResult()
            await check_on_chain(receipt, contract, on_chain)
            assert on_chain.ok, on_chain.failures
    assert blocks


async def _duplicate_is_refused_on_chain(contract: VotesContract, receipt_leaf: str) -> None:
    original = VoteRecord.decode(base64.b64decode(receipt_leaf))
    twin = VoteRecord.build(
        target=original.target,
        voter_tag=original.voter_tag,
        vote_id=uuid.uuid4(),
        cast_at=datetime.now(UTC),
        choice="agree",
    )
    before = await contract.count_target(original.target)
    result = await contract.record_batch(10**9, batch_root([twin]), [twin])
    assert [(d.vote_id, d.first_vote_id) for d in result.duplicates] == [
        (str(twin.vote_id), str(original.vote_id))
    ]
    assert result.recorded == []
    assert await contract.count_target(original.target) == before


async def _scenario(platform: FabricPlatform, network: FabricNetwork, ledger_url: str) -> None:
    tokens = await asyncio.gather(*(platform.token(f"fabric-e2e-{i:04d}") for i in range(241)))
    proposer, voters = tokens[0], tokens[1:]
    auditor = Gateway(load_profile(network.profile), org="CitizenAuditMSP")
    contract = VotesContract(auditor)
    try:
        # 1. Agreements become receipts anchored in Fabric blocks.
        pid = await platform.propose(proposer, "따릉이 대여소 확대 (Fabric)")
        vote_ids = list(
            await asyncio.gather(*(platform.agree_one(token, pid) for token in voters[:60]))
        )
        again = await platform.call(
            "POST", "/v1/votes/agreements", voters[0], json={"proposal_id": pid}
        )
        assert again.status_code == 409

        async def recorded() -> bool:
            return await platform.tree_size() >= len(vote_ids)

        await platform.eventually("the ledger to anchor every agreement", recorded, 120)
        await _receipts_anchored_in_fabric(platform, contract, vote_ids)
        target = f"proposal:{pid}"
        assert await contract.count_target(target) == await platform.tally(pid) == 60

        # 2. A second record of one person on this proposal, sent to the chain directly.
        receipt = (await platform.call("GET", f"/v1/ledger/receipts/{vote_ids[0]}")).json()
        await _duplicate_is_refused_on_chain(contract, receipt["leaf"])

        # 3. The peers stop for 30 s while agreements keep coming.
        second = await platform.propose(proposer, "공공자전거 정비소 (Fabric outage)")
        async with httpx.AsyncClient(trust_env=False, timeout=10.0) as direct:
            outage_voters = voters[60:]

            async def keep_agreeing() -> list[str]:
                ids = []
                for token in outage_voters:
                    ids.append(await platform.agree_one(token, second))
                    await asyncio.sleep(OUTAGE_SECONDS * 1.5 / len(outage_voters))
                return ids

            agreeing = asyncio.create_task(keep_agreeing())
            await asyncio.sleep(2)
            await asyncio.to_thread(network.stop_peers)
            stopped_at = time.monotonic()
            try:

                async def reports_fabric_down() -> bool:
                    ready = await direct.get(f"{ledger_url}/readyz")
                    fabric = ready.json()["checks"].get("fabric", "")
                    # Degraded but serving: receipts and proofs still come from its database.
                    return (
                        ready.status_code == 200
                        and ready.json()["status"] == "degraded"
                        and fabric.startswith("unreachable")
                    )

                await platform.eventually(
                    "ledger-svc's readyz to report Fabric unreachable", reports_fabric_down, 60
                )
                await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped_at)))
            finally:
                await asyncio.to_thread(network.start_peers)
            outage_ids = await agreeing
            # Votes keep being accepted by vote-svc during the outage (the ledger is downstream).
            assert len(outage_ids) == len(outage_voters)

            async def ready_again() -> bool:
                ready = await direct.get(f"{ledger_url}/readyz")
                return ready.status_code == 200 and ready.json()["checks"].get("fabric") == "ok"

            await platform.eventually("ledger-svc to be ready again", ready_again, 120)

        total = len(vote_ids) + len(outage_ids)

        async def caught_up() -> bool:
            return await platform.tree_size() >= total

        await platform.eventually("every vote of the outage to be anchored", caught_up, 300)
        await asyncio.sleep(3)  # a doubled append would land now
        assert await platform.tree_size() == total
        second_target = f"proposal:{second}"
        assert (
            await contract.count_target(second_target)
            == await platform.tally(second)
            == len(outage_ids)
        )
        recount = (await platform.call("GET", f"/v1/ledger/recount/proposal/{second}")).json()
        assert (recount["count"], recount["duplicate_tags"]) == (len(outage_ids), 0)
        on_chain = await contract.records_by_target(second_target)
        assert sorted(r.vote_id for r in on_chain) == sorted(outage_ids)
        await _receipts_anchored_in_fabric(platform, contract, outage_ids)

        # The auditor (recounting from the chain) agrees with vote-svc's rows.
        async def audited() -> bool:
            response = await platform.call("GET", f"/v1/ledger/audit/targets/{second}")
            return response.status_code == 200 and response.json()["ledger_count"] == len(
                outage_ids
            )

        await platform.eventually("the audit of the second proposal", audited, 120)
        audit = (await platform.call("GET", f"/v1/ledger/audit/targets/{second}")).json()
        assert audit["consistent"] is True, audit
    finally:
        await auditor.close()


def test_launcher_exports_the_fabric_profile(tmp_path: Path) -> None:
    """Without LEDGER_BACKEND=fabric nothing changes; with it the profile is exported."""
    config = LocalConfig.from_env({"PLATFORM_DATA_DIR": str(tmp_path)})
    plain = build_env(config, {})
    assert plain["LEDGER_BACKEND"] == "local"
    assert "LEDGER_FABRIC_PROFILE" not in plain
    assert "FABRIC_HOME" not in plain
    fabric = build_env(config, {"LEDGER_BACKEND": "fabric"})
    assert fabric["LEDGER_BACKEND"] == "fabric"
    assert fabric["FABRIC_HOME"] == str(tmp_path / "fabric")
    assert fabric["LEDGER_FABRIC_PROFILE"] == str(tmp_path / "fabric" / "profile.json")
    elsewhere = build_env(
        config, {"LEDGER_BACKEND": "fabric", "FABRIC_HOME": str(tmp_path / "net")}
    )
    assert elsewhere["LEDGER_FABRIC_PROFILE"] == str(tmp_path / "net" / "profile.json")


@pytest.mark.timeout(STARTUP + 900)
def test_agreements_are_anchored_on_fabric_through_caddy(runtime: Runtime) -> None:
    network = FabricNetwork(
        home=runtime.data_dir / "fabric",
        port_offset=PORT_OFFSET,
        log=runtime.log.with_name("fabric.log"),
    )
    runtime.extra_env.update(
        {
            "LEDGER_BACKEND": "fabric",
            "FABRIC_PORT_OFFSET": str(PORT_OFFSET),
            "LEDGER_AUDIT_INTERVAL_SECONDS": "2",
            # Give a batch back to NATS soon when the peers are away.
            "LEDGER_FABRIC_RETRY_SECONDS": "3",
        }
    )
    try:
        with httpx.Client(trust_env=False, timeout=10.0) as sync_client:
            runtime.start()
            runtime.wait_healthy(sync_client, timeout=STARTUP)

        async def run() -> None:
            limits = httpx.Limits(max_connections=CONCURRENCY)
            async with httpx.AsyncClient(
                base_url=runtime.entry_url, timeout=30.0, limits=limits, trust_env=False
            ) as client:
                await _scenario(
                    FabricPlatform(client, CONCURRENCY), network, runtime.service_url("ledger")
                )

        asyncio.run(run())
        assert runtime.interrupt() == 0
        # The launcher stopped the Fabric network with everything else.
        assert leftovers(runtime.data_dir, runtime.ports) == []
    except BaseException:
        print(runtime.output())  # noqa: T201
        raise
    finally:
        with contextlib.suppress(FabricNetworkError):
            network.down()
