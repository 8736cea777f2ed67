"""End to end through Caddy: the open data exports (CSV with its ETag and a 304), the daily
snapshot written by the tick worker, the statistics of proposal-svc and vote-svc (an age band of
at least ten people published, the rest suppressed), the signing rate, and a milestone on an
adopted proposal that its public timeline shows."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import httpx
import pytest
from e2e_runtime import Runtime
from test_participation import Platform

pytestmark = pytest.mark.e2e

AGREEING = 11  # all born in 1985: one age band of 11 people


async def _agreements(platform: Platform, pid: str) -> None:
    citizens = await asyncio.gather(
        *(platform.sign_in(f"e2e-open-data-{i:03d}") for i in range(AGREEING))
    )

    async def votable() -> bool:
        return (await platform.call("GET", f"/v1/votes/tallies/proposals/{pid}")).status_code == 200

    await platform.eventually("the proposal to be open for agreements", votable)
    await platform.agree(list(citizens), pid)
    stats = await platform.call("GET", f"/v1/votes/statistics/proposals/{pid}")
    assert stats.status_code == 200, stats.text
    cells = {c["key"]: c for c in stats.json()["by_age_band"]}
    published = [c for c in cells.values() if not c["suppressed"]]
    assert [(c["key"], c["count"]) for c in published] == [("40_49", AGREEING)]
    assert cells["18_29"] == {"key": "18_29", "count": None, "suppressed": True}
    history = (await platform.call("GET", f"/v1/votes/tallies/proposals/{pid}/history")).json()
    assert history["items"][-1]["total"] == AGREEING


async def _exports(platform: Platform, pid: str) -> None:
    async def listed() -> bool:
        # agreement_count is a read model of vote.tally_changed: it arrives through NATS.
        got = await platform.call("GET", "/v1/open-data/proposals.csv")
        rows = {r["id"]: r for r in csv.DictReader(io.StringIO(got.text))}
        return pid in rows and rows[pid]["agreement_count"] == str(AGREEING)

    await platform.eventually("the proposal in the CSV export with its agreements", listed)
    first = await platform.call("GET", "/v1/open-data/proposals.csv")
    assert first.headers["content-type"] == "text/csv; charset=utf-8"
    assert first.headers["cache-control"].startswith("public")
    again = await platform.client.get(
        "/v1/open-data/proposals.csv", headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304
    as_json = (await platform.call("GET", "/v1/open-data/proposals.json")).json()
    assert pid in {p["id"] for p in as_json}
    for name in ("forums", "answers", "obligations"):
        assert (await platform.call("GET", f"/v1/open-data/{name}.json")).status_code == 200
    obligations = await platform.call("GET", "/v1/statistics/obligations", params={"by": "tier"})
    assert obligations.status_code == 200, obligations.text
    agreements = (await platform.call("GET", "/v1/statistics/agreements?by=category")).json()
    assert {i["key"]: i["agreements"] for i in agreements["items"]}["transport"] == AGREEING

    # The tick worker writes the day's snapshot when it starts.
    state: dict[str, Any] = {}

    async def snapshot() -> bool:
        state.update((await platform.call("GET", "/v1/open-data/snapshots")).json())
        return bool(state["items"])

    await platform.eventually("the daily snapshot", snapshot)
    (file,) = [f for f in state["items"][0]["files"] if f["name"] == "proposals.csv"]
    served = await platform.call("GET", file["url"])
    assert served.status_code == 200
    assert len(served.content) == file["bytes"]


async def _milestone(platform: Platform, pid: str) -> None:
    committee = await platform.sign_in("e2e-open-data-committee", roles=["committee"])
    official = await platform.sign_in(
        "e2e-open-data-official", roles=["department"], department="교통실"
    )
    url = f"/v1/proposals/{pid}/milestones"
    milestone = {"title": "대여소 설치 착수", "status": "in_progress", "progress": 30, "note": ""}
    early = await platform.call("POST", url, official["access_token"], json=milestone)
    assert early.status_code == 409, early.text
    adopted = await platform.call(
        "POST",
        f"/v1/proposals/{pid}/adoption",
        committee["access_token"],
        json={"decision": "adopt", "reason": "timely", "rationale": "시의적절"},
    )
    assert adopted.status_code == 201, adopted.text
    published = await platform.call("POST", url, official["access_token"], json=milestone)
    assert published.status_code == 201, published.text
    timeline = (await platform.call("GET", f"/v1/proposals/{pid}/timeline")).json()["entries"]
    assert timeline[-1]["kind"] == "milestone_published"
    assert timeline[-1]["data"]["progress"] == 30
    listed = (await platform.call("GET", url)).json()["items"]
    assert [m["title"] for m in listed] == ["대여소 설치 착수"]


async def _scenario(platform: Platform) -> None:
    proposer = await platform.sign_in("e2e-open-data-proposer")
    created = await platform.call(
        "POST",
        "/v1/proposals",
        proposer["access_token"],
        json={
            "title": "따릉이 대여소를 늘려주세요",
            "body": "역 앞 대여소에 자전거가 부족합니다.",
            "category": "transport",
            "district": "마포구",
        },
    )
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    await _agreements(platform, pid)
    await _exports(platform, pid)
    await _milestone(platform, pid)


@pytest.mark.timeout(900)
def test_open_data_statistics_and_milestones_through_caddy(runtime: Runtime) -> None:
    with httpx.Client(trust_env=False, timeout=10.0) as sync_client:
        runtime.start()
        # A busy machine (shared CI) may take minutes to migrate and start everything.
        runtime.wait_healthy(sync_client, timeout=300.0)

    async def run() -> None:
        async with httpx.AsyncClient(
            base_url=runtime.entry_url, timeout=30.0, trust_env=False
        ) as client:
            await _scenario(Platform(client))

    try:
        asyncio.run(run())
    except BaseException:
        print(runtime.output())  # noqa: T201
        raise
    assert runtime.interrupt() == 0
