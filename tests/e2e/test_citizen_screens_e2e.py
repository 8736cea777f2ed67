"""End to end through Caddy, with every process running as ``make run`` runs it: a citizen's own
screens. A citizen agrees and finds the agreement under ``/v1/votes/mine`` (also by
``target_id``) until the ledger records it; agreeing made them a follower, they unfollow and
follow again; the proposer lists their proposals with ``author=me``; staff create the monthly
forum and it is in the forum list; the reference data answer; a role granted counts from the
official's next request and a suspended citizen's next proposal is refused (proposal-svc asks
identity-svc over the signed internal API); signing out revokes the refresh-token family."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from e2e_runtime import Runtime
from test_participation import Platform

pytestmark = pytest.mark.e2e

PROPOSAL = {
    "title": "경의선숲길에 벤치를 늘려주세요",
    "body": "산책하는 어르신들이 쉴 곳이 부족합니다.",
    "category": "welfare",
    "district": "11440",
}


async def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def _followed(platform: Platform, token: str) -> list[str]:
    page = await _ok(await platform.call("GET", "/v1/proposals", token, params={"followed": "me"}))
    return [p["id"] for p in page["items"]]


async def _agree_and_follow(platform: Platform, pid: str, citizen: dict[str, Any]) -> None:
    token = citizen["access_token"]

    async def votable() -> bool:
        return (await platform.call("GET", f"/v1/votes/tallies/proposals/{pid}")).status_code == 200

    await platform.eventually("the proposal to be open for agreements", votable)
    (vote_id,) = await platform.agree([citizen], pid)

    mine = await _ok(await platform.call("GET", "/v1/votes/mine", token))
    assert [i["vote_id"] for i in mine["items"]] == [vote_id]
    by_target = await _ok(
        await platform.call("GET", "/v1/votes/mine", token, params={"target_id": pid})
    )
    assert [(i["vote_id"], i["target_type"], i["choice"]) for i in by_target["items"]] == [
        (vote_id, "proposal", "agree")
    ]
    assert (await platform.call("GET", "/v1/votes/mine")).status_code == 401

    async def recorded() -> bool:
        page = await _ok(await platform.call("GET", "/v1/votes/mine", token))
        return bool(page["items"][0]["ledger_status"] == "recorded")

    await platform.eventually("the ledger to record the agreement", recorded)

    async def following() -> bool:
        return pid in await _followed(platform, token)

    await platform.eventually("agreeing to make the citizen a follower", following)
    await _ok(await platform.call("DELETE", f"/v1/proposals/{pid}/follow", token), 204)
    assert pid not in await _followed(platform, token)
    followed = await _ok(await platform.call("PUT", f"/v1/proposals/{pid}/follow", token))
    assert followed == {"proposal_id": pid, "following": True}
    assert pid in await _followed(platform, token)


async def _forum_list(platform: Platform, admin: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    created = await platform.call(
        "POST",
        "/v1/forums",
        admin["access_token"],
        json={
            "title": "12월 시민 공론장: 노후 공공주택 재건축",
            "mode": "hybrid",
            "options": ["찬성", "반대", "유보"],
            "opens_at": (now + timedelta(days=3)).isoformat(),
            "closes_at": (now + timedelta(days=17)).isoformat(),
        },
    )
    forum = await _ok(created, 201)
    assert created.headers["location"] == f"/v1/forums/{forum['id']}"
    monthly = await _ok(
        await platform.call("GET", "/v1/forums", params={"kind": "monthly", "status": "scheduled"})
    )
    assert [f["id"] for f in monthly["items"]] == [forum["id"]]
    assert monthly["total"] == 1


async def _live_roles(
    platform: Platform, pid: str, admin: dict[str, Any], official: dict[str, Any]
) -> None:
    answer = {"kind": "department", "body": "벤치 설치를 검토하겠습니다."}
    url = f"/v1/proposals/{pid}/answers"
    token = official["access_token"]  # issued before the grant
    assert (await platform.call("POST", url, token, json=answer)).status_code == 403
    await _ok(
        await platform.call(
            "PUT",
            f"/v1/identity/citizens/{official['citizen_id']}/roles",
            admin["access_token"],
            json={"roles": ["citizen", "department"], "department": "푸른도시국"},
        )
    )
    answered = await _ok(await platform.call("POST", url, token, json=answer), 201)
    assert answered["answers"][0]["department"] == "푸른도시국"


async def _suspension_and_logout(
    platform: Platform, admin: dict[str, Any], citizen: dict[str, Any]
) -> None:
    await _ok(
        await platform.call(
            "POST",
            f"/v1/identity/citizens/{citizen['citizen_id']}/suspension",
            admin["access_token"],
            json={"reason": "명의 도용 신고 조사 중"},
        )
    )
    refused = await platform.call("POST", "/v1/proposals", citizen["access_token"], json=PROPOSAL)
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"].endswith("/citizen-suspended")

    out = await platform.call(
        "POST", "/v1/identity/sessions/logout", json={"refresh_token": admin["refresh_token"]}
    )
    assert out.status_code == 204, out.text
    refresh = await platform.call(
        "POST", "/v1/identity/tokens/refresh", json={"refresh_token": admin["refresh_token"]}
    )
    assert refresh.status_code == 401


async def _scenario(platform: Platform) -> None:
    proposer, citizen, official, suspect = await asyncio.gather(
        *(platform.sign_in(f"e2e-screens-{n}") for n in ("proposer", "citizen", "official", "x"))
    )
    admin = await platform.sign_in("e2e-screens-admin", roles=["admin"])
    created = await platform.call("POST", "/v1/proposals", proposer["access_token"], json=PROPOSAL)
    proposal = await _ok(created, 201)
    pid = proposal["id"]
    assert created.headers["location"] == f"/v1/proposals/{pid}"
    assert (proposal["district"], proposal["district_code"]) == ("마포구", "11440")
    mine = await _ok(
        await platform.call(
            "GET", "/v1/proposals", proposer["access_token"], params={"author": "me"}
        )
    )
    assert ([p["id"] for p in mine["items"]], mine["total"]) == ([pid], 1)
    assert (await platform.call("GET", "/v1/proposals", params={"author": "me"})).status_code == 401
    assert pid in await _followed(platform, proposer["access_token"])  # the proposer follows

    await _agree_and_follow(platform, pid, citizen)
    await _forum_list(platform, admin)
    districts = await _ok(await platform.call("GET", "/v1/proposals/districts"))
    assert len(districts["items"]) == 25
    tiers = await _ok(await platform.call("GET", "/v1/proposals/tiers"))
    assert [t["threshold"] for t in tiers["items"]] == [50, 100, 1000]
    await _live_roles(platform, pid, admin, official)
    await _suspension_and_logout(platform, admin, suspect)


@pytest.mark.timeout(700)
def test_citizen_screens_through_caddy(runtime: Runtime) -> None:
    with httpx.Client(trust_env=False, timeout=10.0) as sync_client:
        runtime.start()
        runtime.wait_healthy(sync_client, timeout=300)  # a busy machine migrates slowly

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
