"""End to end through Caddy with every process running as ``make run`` runs it: a proposal that
reaches 50, 100 and 1,000 agreements tells its proposer exactly once per step, in Korean, with
the proposal's title and the obligation's due date (KST), through the dev provider (which keeps
what it would have sent at ``GET /v1/notifications/dev/messages``)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from e2e_runtime import Runtime
from test_participation import CONCURRENCY, Platform

pytestmark = pytest.mark.e2e

VOTERS = 1000
TITLE = "성수동 보행로에 그늘막을 설치해 주세요"
KST = ZoneInfo("Asia/Seoul")
TIERS = {50: "department_answer", 100: "forum", 1000: "mayor_answer"}


async def _tier_messages(platform: Platform, citizen_id: str) -> list[dict[str, Any]]:
    response = await platform.call(
        "GET",
        "/v1/notifications/dev/messages",
        params={"citizen_id": citizen_id, "template_code": "PROPOSAL_TIER_REACHED"},
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items[::-1]  # oldest first


async def _scenario(platform: Platform) -> None:
    proposer = await platform.sign_in("e2e-notify-proposer", phone="010-4321-8765")
    token = proposer["access_token"]
    # The proposer agrees to night-time messages, so the test passes at any hour in Seoul.
    consent = await platform.call(
        "PUT",
        "/v1/notifications/preferences",
        token,
        json={"channels": ["alimtalk", "sms"], "opt_out": False, "night_consent": True},
    )
    assert consent.status_code == 200, consent.text
    voters = await asyncio.gather(
        *(platform.sign_in(f"e2e-notify-voter-{i:04d}") for i in range(VOTERS))
    )
    created = await platform.call(
        "POST",
        "/v1/proposals",
        token,
        json={"title": TITLE, "body": "한낮 보행로가 너무 뜨겁습니다.", "category": "environment"},
    )
    assert created.status_code == 201, created.text
    pid = created.json()["id"]

    async def votable() -> bool:
        return (await platform.call("GET", f"/v1/votes/tallies/proposals/{pid}")).status_code == 200

    await platform.eventually("the proposal to be open for agreements", votable)

    done = 0
    for step, (threshold, obligation) in enumerate(TIERS.items(), start=1):
        await platform.agree(voters[done:threshold], pid)
        done = threshold
        state = await platform.until_obligations(pid, set(list(TIERS.values())[:step]))
        due_at = next(o["due_at"] for o in state["obligations"] if o["kind"] == obligation)
        due_kst = datetime.fromisoformat(due_at).astimezone(KST).strftime("%Y-%m-%d")

        async def told(count: int = step) -> bool:
            return len(await _tier_messages(platform, proposer["citizen_id"])) >= count

        await platform.eventually(f"the proposer to be told about {threshold}", told)
        latest = (await _tier_messages(platform, proposer["citizen_id"]))[-1]
        assert TITLE in latest["text"], latest
        assert f"{threshold:,}명" in latest["text"], latest
        assert due_kst in latest["text"], latest
        assert latest["to"] == "010-****-8765"
        assert latest["channel"] == "alimtalk"
        assert latest["text"].startswith("[시민참여] 제안 동의 기준 달성 안내")

    # Exactly one message per step, also after a while (no late duplicates).
    await asyncio.sleep(3.0)
    messages = await _tier_messages(platform, proposer["citizen_id"])
    assert [m["text"].count(f"{t:,}명") for m, t in zip(messages, TIERS, strict=True)] == [1] * 3
    assert len({m["provider_message_id"] for m in messages}) == 3

    # The proposer sees the same messages in their own list, with their delivery status.
    mine = await platform.call("GET", "/v1/notifications/mine", token, params={"limit": 50})
    assert mine.status_code == 200, mine.text
    tiers = [i for i in mine.json()["items"] if i["template_code"] == "PROPOSAL_TIER_REACHED"]
    assert len(tiers) == 3
    assert {i["status"] for i in tiers} <= {"sent", "delivered"}
    # A voter hears nothing about someone else's proposal.
    nothing = await _tier_messages(platform, voters[0]["citizen_id"])
    assert nothing == []


@pytest.mark.timeout(600)
def test_each_tier_tells_the_proposer_once_in_korean(runtime: Runtime) -> None:
    with httpx.Client(trust_env=False, timeout=10.0) as sync_client:
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
