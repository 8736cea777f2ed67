"""End to end through Caddy, with every process running as ``make run`` runs it: citizens comment
on a proposal and reply, like (200 parallel likes by one citizen make one, 100 citizens make 100),
report a comment until it is held; a moderator finds it in the queue, hides it and restores it,
and the decisions are on record; a citizen posting too fast gets 429; a forum collects opinions;
the comment events reach the PROPOSAL stream."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import nats
import pytest
from e2e_runtime import Runtime
from nats.js.errors import NotFoundError
from test_participation import Platform

pytestmark = pytest.mark.e2e

LIKERS = 100


async def _comment(
    platform: Platform, pid: str, citizen: dict[str, Any], body: str, **extra: Any
) -> dict[str, Any]:
    response = await platform.call(
        "POST",
        f"/v1/proposals/{pid}/comments",
        citizen["access_token"],
        json={"body": body, **extra},
    )
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/v1/comments/{response.json()['id']}"
    created: dict[str, Any] = response.json()
    return created


async def _read(platform: Platform, cid: str) -> dict[str, Any]:
    response = await platform.call("GET", f"/v1/comments/{cid}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _thread_and_likes(
    platform: Platform, client: httpx.AsyncClient, pid: str, citizens: list[dict[str, Any]]
) -> str:
    top = await _comment(platform, pid, citizens[0], "역 앞 대여소가 늘 비어 있어요 🚲")
    reply = await _comment(platform, pid, citizens[1], "저도 같은 생각입니다", parent_id=top["id"])
    # A reply to a reply answers the top-level comment.
    nested = await _comment(platform, pid, citizens[2], "동의해요", parent_id=reply["id"])
    assert nested["parent_id"] == top["id"]
    listing = (await platform.call("GET", f"/v1/proposals/{pid}/comments")).json()
    assert listing["counts"] == {"total": 3, "published": 3}
    (item,) = listing["items"]
    assert (item["id"], item["reply_count"]) == (top["id"], 2)
    assert [r["id"] for r in item["replies"]] == [reply["id"], nested["id"]]

    # 200 parallel likes by one citizen (straight at the entry point, not through the gate).
    headers = {"Authorization": f"Bearer {citizens[3]['access_token']}"}
    storm = await asyncio.gather(
        *(client.put(f"/v1/comments/{top['id']}/like", headers=headers) for _ in range(200))
    )
    assert Counter(r.status_code for r in storm) == {200: 200}, {r.text for r in storm}
    assert {r.json()["like_count"] for r in storm} == {1}
    assert (await _read(platform, top["id"]))["like_count"] == 1

    likers = citizens[4 : 4 + LIKERS]
    crowd = await asyncio.gather(
        *(
            client.put(
                f"/v1/comments/{reply['id']}/like",
                headers={"Authorization": f"Bearer {c['access_token']}"},
            )
            for c in likers
        )
    )
    assert Counter(r.status_code for r in crowd) == {200: LIKERS}, {r.text for r in crowd}
    assert sorted(r.json()["like_count"] for r in crowd) == list(range(1, LIKERS + 1))
    assert (await _read(platform, reply["id"]))["like_count"] == LIKERS
    liked = (
        await platform.call("GET", f"/v1/proposals/{pid}/comments?parent_id={top['id']}&sort=liked")
    ).json()
    assert [r["id"] for r in liked["items"]] == [reply["id"], nested["id"]]
    return str(top["id"])


async def _report_and_moderate(
    platform: Platform, pid: str, citizens: list[dict[str, Any]], moderator: dict[str, Any]
) -> None:
    rude = await _comment(platform, pid, citizens[0], "이런 제안은 쓸모없어요")
    cid = rude["id"]
    for reporter in citizens[1:4]:
        report = await platform.call(
            "POST",
            f"/v1/comments/{cid}/reports",
            reporter["access_token"],
            json={"reason": "abuse", "detail": "인신공격"},
        )
        assert report.status_code == 201, report.text
    again = await platform.call(
        "POST", f"/v1/comments/{cid}/reports", citizens[1]["access_token"], json={"reason": "spam"}
    )
    assert again.status_code == 409
    held = await _read(platform, cid)
    assert (held["status"], held["body"], held["held_rule"]) == ("held", None, "reports")

    token = moderator["access_token"]
    assert (
        await platform.call("GET", "/v1/moderation/queue", citizens[5]["access_token"])
    ).status_code == 403
    queue = (await platform.call("GET", "/v1/moderation/queue", token)).json()
    (item,) = [i for i in queue["items"] if i["comment"]["id"] == cid]
    assert (item["comment"]["body"], item["reasons"]) == ("이런 제안은 쓸모없어요", {"abuse": 3})
    hidden = await platform.call(
        "POST", f"/v1/comments/{cid}/hide", token, json={"reason": "인신공격성 표현"}
    )
    assert hidden.status_code == 200, hidden.text
    public = await _read(platform, cid)
    assert (public["status"], public["body"], public["hidden_reason"]) == (
        "hidden",
        None,
        "인신공격성 표현",
    )
    restored = await platform.call(
        "POST", f"/v1/comments/{cid}/restore", token, json={"reason": "이의 신청 인용"}
    )
    assert restored.status_code == 200, restored.text
    assert (await _read(platform, cid))["body"] == "이런 제안은 쓸모없어요"
    decisions = (
        await platform.call("GET", f"/v1/moderation/decisions?comment_id={cid}", token)
    ).json()["items"]
    assert [(d["action"], d["automatic"]) for d in decisions] == [
        ("restore", False),
        ("hide", False),
        ("hold", True),
    ]
    assert decisions[1]["reason"] == "인신공격성 표현"
    assert decisions[1]["decided_by"] == moderator["citizen_id"]
    assert decisions[2]["rule"] == "reports"
    queue = (await platform.call("GET", "/v1/moderation/queue", token)).json()
    assert cid not in {i["comment"]["id"] for i in queue["items"]}


async def _rate_limit_and_privacy(platform: Platform, pid: str, citizen: dict[str, Any]) -> None:
    held = await _comment(platform, pid, citizen, "제 번호는 010-1234-5678 입니다")
    assert (held["status"], held["body"], held["held_rule"]) == ("held", None, "privacy")
    for i in range(4):
        await _comment(platform, pid, citizen, f"연속 댓글 {i}")
    limited = await platform.call(
        "POST", f"/v1/proposals/{pid}/comments", citizen["access_token"], json={"body": "또"}
    )
    assert limited.status_code == 429, limited.text
    assert limited.headers["content-type"] == "application/problem+json"
    assert 1 <= int(limited.headers["retry-after"]) <= 86400
    assert limited.json()["type"].endswith("/rate-limited")


async def _opinions(
    platform: Platform, staff: dict[str, Any], citizens: list[dict[str, Any]]
) -> None:
    created = await platform.call(
        "POST",
        "/v1/forums",
        staff["access_token"],
        json={
            "title": "12월 시민 공론장",
            "mode": "hybrid",
            "options": ["찬성", "반대", "유보"],
            "opens_at": "2020-01-01T00:00:00Z",
            "closes_at": "2099-01-01T00:00:00Z",
        },
    )
    assert created.status_code == 201, created.text
    fid = created.json()["id"]
    for citizen, stance in zip(citizens, ["pro", "pro", "con", "neutral"], strict=True):
        posted = await platform.call(
            "POST",
            f"/v1/forums/{fid}/opinions",
            citizen["access_token"],
            json={"stance": stance, "body": "의견입니다"},
        )
        assert posted.status_code == 201, posted.text
    changed = await platform.call(
        "POST",
        f"/v1/forums/{fid}/opinions",
        citizens[0]["access_token"],
        json={"stance": "con", "body": "생각이 바뀌었습니다"},
    )
    assert changed.status_code == 201, changed.text
    page = (await platform.call("GET", f"/v1/forums/{fid}/opinions")).json()
    assert page["counts"] == {"pro": 1, "con": 2, "neutral": 1, "participants": 4}
    assert len(page["items"]) == 5


async def _events_reach_the_stream(platform: Platform, nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()

        async def published() -> bool:
            try:
                for subject in ("comment.posted.v1", "comment.held.v1", "opinion.posted.v1"):
                    await js.get_last_msg("PROPOSAL", subject)
            except NotFoundError:
                return False
            return True

        await platform.eventually("the comment events on the PROPOSAL stream", published)
    finally:
        await nc.close()


async def _scenario(platform: Platform, client: httpx.AsyncClient, nats_url: str) -> None:
    citizens = await asyncio.gather(
        *(platform.sign_in(f"e2e-deliberation-{i:03d}") for i in range(LIKERS + 10))
    )
    moderator = await platform.sign_in("e2e-moderator", roles=["moderator"])
    staff = await platform.sign_in("e2e-forum-office", roles=["mayor_office"])
    created = await platform.call(
        "POST",
        "/v1/proposals",
        citizens[0]["access_token"],
        json={
            "title": "따릉이 대여소를 늘려주세요",
            "body": "역 앞 대여소에 자전거가 부족합니다.",
            "category": "transport",
        },
    )
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    await _thread_and_likes(platform, client, pid, citizens)
    await _report_and_moderate(platform, pid, citizens[-8:], moderator)
    await _rate_limit_and_privacy(platform, pid, citizens[-1])
    await _opinions(platform, staff, citizens[-5:-1])
    timeline = (await platform.call("GET", f"/v1/proposals/{pid}/timeline")).json()["entries"]
    days = [e for e in timeline if e["kind"] == "comments"]
    assert sum(e["data"]["count"] for e in days) == 9  # 3 + 1 + 5 posted (one refused)
    await _events_reach_the_stream(platform, nats_url)


@pytest.mark.timeout(600)
def test_deliberation_through_caddy(runtime: Runtime) -> None:
    # A sliding minute: five posts in a row are refused on the sixth even across a minute's turn.
    runtime.extra_env["PROPOSAL_COMMENT_RATE_LIMITS"] = (
        '[{"limit": 5, "seconds": 60, "sliding": true}]'
    )
    # The like storms are more requests than the API serves at once: they wait for a slot
    # instead of being shed with 503 after 2 s when the machine is busy.
    runtime.extra_env["PROPOSAL_MAX_QUEUE_SECONDS"] = "60"
    with httpx.Client(trust_env=False, timeout=10.0) as sync_client:
        runtime.start()
        runtime.wait_healthy(sync_client)

    async def run() -> None:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(
            base_url=runtime.entry_url, timeout=30.0, limits=limits, trust_env=False
        ) as client:
            nats_url = f"nats://127.0.0.1:{runtime.ports['PLATFORM_NATS_PORT']}"
            await _scenario(Platform(client), client, nats_url)

    try:
        asyncio.run(run())
    except BaseException:
        print(runtime.output())  # noqa: T201
        raise
    assert runtime.interrupt() == 0
