"""End to end through Caddy with every process running as ``make run`` runs it: a proposal that
reaches 50, 100 and 1,000 agreements tells its proposer exactly once per step, in Korean, with
the proposal's title and the obligation's due date (KST), through the dev provider (which keeps
what it would have sent at ``GET /v1/notifications/dev/messages``); a citizen who follows it is
told too, and of the department's answer, in messages linked to the proposal that they mark
read."""

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


async def _tier_messages(
    platform: Platform, citizen_id: str, template_code: str = "PROPOSAL_TIER_REACHED"
) -> list[dict[str, Any]]:
    response = await platform.call(
        "GET",
        "/v1/notifications/dev/messages",
        params={"citizen_id": citizen_id, "template_code": template_code},
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items[::-1]  # oldest first


async def _night_consent(platform: Platform, token: str) -> None:
    """Agree to night-time messages, so that the test passes at any hour in Seoul."""
    consent = await platform.call(
        "PUT",
        "/v1/notifications/preferences",
        token,
        json={"channels": ["alimtalk", "sms"], "opt_out": False, "night_consent": True},
    )
    assert consent.status_code == 200, consent.text


async def _follower_is_told_and_reads(
    platform: Platform, pid: str, follower: dict[str, Any], proposer: dict[str, Any]
) -> None:
    """The follower was told of each tier; after the department answers, the follower and the
    proposer are told of the answer; the follower's messages link to the proposal and are
    marked read, one and then all."""

    async def told_of_every_tier() -> bool:
        found = await _tier_messages(platform, follower["citizen_id"], "FOLLOWED_TIER_REACHED")
        return len(found) >= len(TIERS)

    # The followers' messages are planned after the proposer's (a job paging the followers).
    await platform.eventually("the follower to be told of every tier", told_of_every_tier)
    tiers = await _tier_messages(platform, follower["citizen_id"], "FOLLOWED_TIER_REACHED")
    assert len(tiers) == len(TIERS), tiers
    assert all(TITLE in m["text"] for m in tiers)
    official = await platform.sign_in(
        "e2e-notify-official", roles=["department"], department="교통실"
    )
    answer = await platform.call(
        "POST",
        f"/v1/proposals/{pid}/answers",
        official["access_token"],
        json={"kind": "department", "body": "내년 여름 전까지 그늘막 30곳을 설치하겠습니다."},
    )
    assert answer.status_code == 201, answer.text

    async def both_told() -> bool:
        follower_told = await _tier_messages(platform, follower["citizen_id"], "FOLLOWED_ANSWERED")
        proposer_told = await _tier_messages(platform, proposer["citizen_id"], "PROPOSAL_ANSWERED")
        return len(follower_told) == 1 and len(proposer_told) == 1

    await platform.eventually("the follower and the proposer to be told of the answer", both_told)
    token = follower["access_token"]
    mine = await platform.call("GET", "/v1/notifications/mine", token, params={"limit": 50})
    assert mine.status_code == 200, mine.text
    items = mine.json()["items"]
    codes = sorted(i["template_code"] for i in items)
    # The 100 tier opened the proposal's forum: followers are told of that too.
    expected = ["FOLLOWED_ANSWERED", "FOLLOWED_FORUM_OPENED"] + ["FOLLOWED_TIER_REACHED"] * 3
    assert codes == expected, codes
    assert {i["proposal_id"] for i in items} == {pid}
    for item in items:
        forum = item["forum_id"]
        page = f"/forums/{forum}" if forum else f"/proposals/{pid}"
        assert str(item["link"]).endswith(page), item
    assert mine.json()["unread"] == len(items)
    first = items[0]["id"]
    read = await platform.call("POST", f"/v1/notifications/{first}/read", token)
    assert read.status_code == 200, read.text
    assert read.json()["read_at"] is not None
    unread = await platform.call("GET", "/v1/notifications/unread-count", token)
    assert unread.json() == {"unread": len(items) - 1}
    others = await platform.call(
        "POST", f"/v1/notifications/{first}/read", proposer["access_token"]
    )
    assert others.status_code == 404, others.text
    everything = await platform.call("POST", "/v1/notifications/read-all", token)
    assert everything.json() == {"marked": len(items) - 1, "unread": 0}


async def _scenario(platform: Platform) -> None:
    proposer = await platform.sign_in("e2e-notify-proposer", phone="010-4321-8765")
    token = proposer["access_token"]
    await _night_consent(platform, token)
    follower = await platform.sign_in("e2e-notify-follower", phone="010-5555-1234")
    await _night_consent(platform, follower["access_token"])
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
    follow = await platform.call("PUT", f"/v1/proposals/{pid}/follow", follower["access_token"])
    assert follow.status_code == 200, follow.text

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
    await _follower_is_told_and_reads(platform, pid, follower, proposer)


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
