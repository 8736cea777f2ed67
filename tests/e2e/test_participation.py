"""End to end through Caddy, with every process running as ``make run`` runs it: 1,001 sandbox
citizens; one proposes; agreements cross the 50 / 100 / 1,000 tiers; officials answer; the
committee adopts another proposal below threshold; a forum with 1,000 participants links its
proposal to the budget. The timeline tells it all in order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from e2e_runtime import Runtime

from ledger_svc.verify import verify_receipt

pytestmark = pytest.mark.e2e

CITIZENS = 1001
CONCURRENCY = 24


class Platform:
    """A client of the running platform, through its single entry point."""

    def __init__(self, client: httpx.AsyncClient, concurrency: int = CONCURRENCY) -> None:
        self.client = client
        self.gate = asyncio.Semaphore(concurrency)

    async def sign_in(self, seed: str, **persona: Any) -> dict[str, Any]:
        async with self.gate:
            started = await self.client.post(
                "/v1/identity/verifications", json={"provider": "sandbox"}
            )
            assert started.status_code == 201, started.text
            done = await self.client.post(
                f"/v1/identity/verifications/{started.json()['verification_id']}/complete",
                json={
                    "persona": {
                        "name": "시민",
                        "birthdate": "1985-04-01",
                        "phone": "010-1111-2222",
                        "ci_seed": seed,
                        **persona,
                    }
                },
            )
            assert done.status_code == 200, done.text
            body: dict[str, Any] = done.json()
            return body

    async def call(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.gate:
            return await self.client.request(method, path, headers=headers, **kwargs)

    async def agree(self, citizens: list[dict[str, Any]], proposal_id: str) -> list[str]:
        responses = await asyncio.gather(
            *(
                self.call(
                    "POST",
                    "/v1/votes/agreements",
                    c["access_token"],
                    json={"proposal_id": proposal_id},
                )
                for c in citizens
            )
        )
        assert [r.status_code for r in responses] == [201] * len(citizens), {
            r.text for r in responses
        }
        return [str(r.json()["vote_id"]) for r in responses]

    async def eventually(
        self, what: str, check: Callable[[], Awaitable[bool]], within: float = 60.0
    ) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if await check():
                return
            await asyncio.sleep(0.25)
        pytest.fail(f"timed out waiting for {what}")

    async def proposal(self, proposal_id: str) -> dict[str, Any]:
        response = await self.call("GET", f"/v1/proposals/{proposal_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def until_obligations(self, proposal_id: str, kinds: set[str]) -> dict[str, Any]:
        state: dict[str, Any] = {}

        async def check() -> bool:
            state.update(await self.proposal(proposal_id))
            return {o["kind"] for o in state["obligations"]} >= kinds

        await self.eventually(f"obligations {kinds}", check)
        return state


async def _scenario(platform: Platform) -> None:
    seeds = [f"e2e-citizen-{i:04d}" for i in range(CITIZENS)]
    citizens = await asyncio.gather(*(platform.sign_in(seed) for seed in seeds))
    assert len({c["citizen_id"] for c in citizens}) == CITIZENS
    official = await platform.sign_in("e2e-official", roles=["department"], department="교통실")
    mayor_office = await platform.sign_in("e2e-mayor-office", roles=["mayor_office"])
    committee = await platform.sign_in("e2e-committee", roles=["committee"])

    proposer, voters = citizens[0], citizens[1:]
    created = await platform.call(
        "POST",
        "/v1/proposals",
        proposer["access_token"],
        json={
            "title": "따릉이 대여소를 늘려주세요",
            "body": "역 앞 대여소에 자전거가 부족합니다.",
            "category": "transport",
        },
    )
    assert created.status_code == 201, created.text
    pid = created.json()["id"]

    # The proposal's target must be open in vote-svc (proposal.opened travelled through NATS).
    async def votable() -> bool:
        return (await platform.call("GET", f"/v1/votes/tallies/proposals/{pid}")).status_code == 200

    await platform.eventually("the proposal to be open for agreements", votable)

    vote_ids = await platform.agree(voters[:50], pid)
    state = await platform.until_obligations(pid, {"department_answer"})
    assert [t["threshold"] for t in state["tiers_reached"]] == [50]

    vote_ids += await platform.agree(voters[50:100], pid)
    state = await platform.until_obligations(pid, {"department_answer", "forum"})
    forum_id = state["forum_id"]
    assert forum_id
    forum = (await platform.call("GET", f"/v1/forums/{forum_id}")).json()
    assert forum["status"] == "open"
    assert forum["proposal_id"] == pid

    vote_ids += await platform.agree(voters[100:1000], pid)
    state = await platform.until_obligations(pid, {"department_answer", "forum", "mayor_answer"})
    assert [t["threshold"] for t in state["tiers_reached"]] == [50, 100, 1000]
    tally = (await platform.call("GET", f"/v1/votes/tallies/proposals/{pid}")).json()
    assert tally["agreements"] == 1000
    duplicate = await platform.call(
        "POST", "/v1/votes/agreements", voters[0]["access_token"], json={"proposal_id": pid}
    )
    assert duplicate.status_code == 409

    department = await platform.call(
        "POST",
        f"/v1/proposals/{pid}/answers",
        official["access_token"],
        json={"kind": "department", "body": "내년 상반기까지 대여소 20곳을 늘리겠습니다."},
    )
    assert department.status_code == 201, department.text
    mayor = await platform.call(
        "POST",
        f"/v1/proposals/{pid}/answers",
        mayor_office["access_token"],
        json={"kind": "mayor", "body": "시장으로서 약속드립니다."},
    )
    assert mayor.status_code == 201, mayor.text
    answered = {o["kind"]: o for o in mayor.json()["obligations"]}
    assert answered["department_answer"]["fulfilled_at"] is not None
    assert answered["mayor_answer"]["fulfilled_at"] is not None
    assert answered["forum"]["fulfilled_at"] is None

    # The committee adopts another proposal far below any threshold.
    other = await platform.call(
        "POST",
        "/v1/proposals",
        voters[5]["access_token"],
        json={
            "title": "한강공원 야간 조명 개선",
            "body": "밤에 산책로가 너무 어둡습니다.",
            "category": "safety",
        },
    )
    oid = other.json()["id"]
    adoption = await platform.call(
        "POST",
        f"/v1/proposals/{oid}/adoption",
        committee["access_token"],
        json={"decision": "adopt", "reason": "timely", "rationale": "안전 관련 시의성이 높음"},
    )
    assert adoption.status_code == 201, adoption.text
    assert adoption.json()["status"] == "adopted"
    assert adoption.json()["agreement_count"] == 0

    # 1,000 citizens take part in the forum; closing it links the proposal to the budget.
    ballots = await asyncio.gather(
        *(
            platform.call(
                "POST",
                f"/v1/votes/forums/{forum_id}/ballots",
                c["access_token"],
                json={"choice": ["찬성", "반대", "유보"][i % 3]},
            )
            for i, c in enumerate(citizens[:1000])
        )
    )
    assert [b.status_code for b in ballots] == [201] * 1000, {b.text for b in ballots}

    async def counted() -> bool:
        forum = (await platform.call("GET", f"/v1/forums/{forum_id}")).json()
        return bool(forum["participant_count"] == 1000)

    await platform.eventually("the forum to count 1,000 participants", counted)
    closed = await platform.call(
        "POST", f"/v1/forums/{forum_id}/closure", mayor_office["access_token"]
    )
    assert closed.status_code == 200, closed.text
    state = await platform.proposal(pid)
    assert state["status"] == "budget_linked"
    obligations = {o["kind"]: o for o in state["obligations"]}
    assert obligations["forum"]["fulfilled_at"] is not None
    assert obligations["budget_review"]["fulfilled_at"] is None

    timeline = (await platform.call("GET", f"/v1/proposals/{pid}/timeline")).json()["entries"]
    kinds = [e["kind"] for e in timeline]
    assert kinds == [
        "submitted",
        "opened",
        "tier_reached",
        "tier_reached",
        "forum_opened",
        "tier_reached",
        "answered",
        "answered",
        "forum_closed",
        "status_changed",
    ]
    assert [e["data"].get("threshold") for e in timeline if e["kind"] == "tier_reached"] == [
        50,
        100,
        1000,
    ]
    assert timeline[-1]["data"]["to_status"] == "budget_linked"
    assert [e["seq"] for e in timeline] == sorted(e["seq"] for e in timeline)

    # The auditor compared the ledger's recount with vote-svc's rows and found them equal.
    async def audited() -> bool:
        response = await platform.call("GET", f"/v1/ledger/audit/targets/{pid}")
        return response.status_code == 200 and response.json()["service_count"] == 1000

    await platform.eventually("the audit of the proposal", audited)
    audit = (await platform.call("GET", f"/v1/ledger/audit/targets/{pid}")).json()
    assert audit["consistent"] is True, audit
    assert (audit["ledger_count"], audit["duplicate_tags"]) == (1000, 0)
    integrity = (await platform.call("GET", "/v1/ledger/audit/integrity")).json()
    assert integrity["consistent"] is True, integrity


async def _check_ledger(platform: Platform, pid: str, vote_ids: list[str]) -> None:
    """Every agreement is in the ledger, with a receipt the offline verifier accepts against the
    current signed head, and the ledger alone recounts the proposal to 1,000."""

    async def recorded() -> bool:
        head = await platform.call("GET", "/v1/ledger/head")
        return head.status_code == 200 and head.json()["tree_size"] >= len(vote_ids)

    await platform.eventually("the ledger to record every agreement", recorded)
    head = (await platform.call("GET", "/v1/ledger/head")).json()
    keys = (await platform.call("GET", "/v1/ledger/keys")).json()["keys"]
    receipts = await asyncio.gather(
        *(
            platform.call(
                "GET", f"/v1/ledger/receipts/{v}", params={"tree_size": head["tree_size"]}
            )
            for v in vote_ids
        )
    )
    for receipt in receipts:
        assert receipt.status_code == 200, receipt.text
        result = verify_receipt(receipt.json(), head, keys)
        assert result.ok, result.failures
    recount = (await platform.call("GET", f"/v1/ledger/recount/proposal/{pid}")).json()
    assert (recount["count"], recount["duplicate_tags"]) == (1000, 0)


@pytest.mark.timeout(600)
def test_participation_journey_through_caddy(runtime: Runtime) -> None:
    with httpx.Client(trust_env=False, timeout=10.0) as sync_client:
        runtime.extra_env["LEDGER_AUDIT_INTERVAL_SECONDS"] = "2"
        runtime.start()
        runtime.wait_healthy(sync_client)

    async def run() -> None:
        limits = httpx.Limits(max_connections=CONCURRENCY)
        async with httpx.AsyncClient(
            base_url=runtime.entry_url, timeout=30.0, limits=limits, trust_env=False
        ) as client:
            await _scenario(Platform(client))

    try:
        asyncio.run(run())
    except BaseException:
        print(runtime.output())  # noqa: T201
        raise
    assert runtime.interrupt() == 0
