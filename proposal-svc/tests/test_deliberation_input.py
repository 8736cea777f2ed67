"""Bad input on every deliberation endpoint is answered with problem+json and writes nothing;
posting and reporting are rate-limited per citizen (429 with Retry-After)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from deliberation_helpers import Deliberation, counts

from proposal_svc.config import ProposalSettings
from services.clock import ManualClock
from services_dev.testing.tokens import TestTokens


@dataclass
class World:
    """One of everything, for the bad requests to aim at."""

    proposal: str
    comment: str
    forum: str
    report: str
    author: dict[str, str]


async def _world(d: Deliberation, clock: ManualClock) -> World:
    author = d.citizen()
    pid = await d.proposal()
    cid = (await d.comment(pid, headers=author))["id"]
    rid = (await d.report(cid)).json()["id"]
    return World(pid, cid, await d.forum(clock), rid, author)


@dataclass
class Case:
    method: str
    path: str
    status: int
    slug: str | None = None
    json: Any = None
    content: bytes | None = None
    params: dict[str, Any] = field(default_factory=dict)
    who: str = "citizen"  # citizen, author, nobody, moderator, staff_only, forged


def _cases(w: World, settings: ProposalSettings) -> list[Case]:
    nobody = str(uuid.uuid4())
    comments = f"/v1/proposals/{w.proposal}/comments"
    one = f"/v1/comments/{w.comment}"
    opinions = f"/v1/forums/{w.forum}/opinions"
    long_body = "가" * (settings.comment_body_max + 1)
    writes = [
        ("POST", comments, {"body": "댓글"}),
        ("PATCH", one, {"body": "수정"}),
        ("DELETE", one, None),
        ("PUT", f"{one}/like", None),
        ("DELETE", f"{one}/like", None),
        ("POST", f"{one}/reports", {"reason": "spam"}),
        ("POST", opinions, {"stance": "pro", "body": "의견"}),
    ]
    staff = [
        ("GET", "/v1/moderation/queue", None),
        ("GET", "/v1/moderation/decisions", None),
        ("POST", f"{one}/hide", {"reason": "사유"}),
        ("POST", f"{one}/restore", {}),
        ("GET", f"{one}/edits", None),
    ]
    cases = [
        *(Case(m, p, 401, json=j, who="nobody") for m, p, j in writes + staff),
        *(Case(m, p, 401, json=j, who="forged") for m, p, j in writes + staff),
        *(Case(m, p, 403, "forbidden", json=j, who="staff_only") for m, p, j in writes),
        *(Case(m, p, 403, "forbidden", json=j) for m, p, j in staff),
        Case("GET", f"/v1/comments/{w.comment}/reports/{w.report}", 401, who="nobody"),
        Case("GET", f"/v1/comments/{w.comment}/reports/{w.report}", 404, "report-not-found"),
        # unknown ids
        Case("POST", f"/v1/proposals/{nobody}/comments", 404, "proposal-not-found", {"body": "x"}),
        Case("GET", f"/v1/proposals/{nobody}/comments", 404, "proposal-not-found"),
        Case("GET", f"/v1/comments/{nobody}", 404, "comment-not-found"),
        Case("PATCH", f"/v1/comments/{nobody}", 404, "comment-not-found", {"body": "x"}),
        Case("DELETE", f"/v1/comments/{nobody}", 404, "comment-not-found"),
        Case("PUT", f"/v1/comments/{nobody}/like", 404, "comment-not-found"),
        Case("DELETE", f"/v1/comments/{nobody}/like", 404, "comment-not-found"),
        Case("POST", f"/v1/comments/{nobody}/reports", 404, "comment-not-found", {"reason": "spam"}),
        Case("GET", f"/v1/comments/{w.comment}/reports/{nobody}", 404, "report-not-found"),
        Case("POST", f"/v1/forums/{nobody}/opinions", 404, "forum-not-found", {"stance": "pro", "body": "x"}),
        Case("GET", f"/v1/forums/{nobody}/opinions", 404, "forum-not-found"),
        Case("POST", f"/v1/comments/{nobody}/hide", 404, "comment-not-found", {"reason": "x"}, who="moderator"),
        Case("POST", f"/v1/comments/{nobody}/restore", 404, "comment-not-found", {}, who="moderator"),
        Case("GET", f"/v1/comments/{nobody}/edits", 404, "comment-not-found", who="moderator"),
        Case("GET", "/v1/moderation/decisions", 404, "comment-not-found", params={"comment_id": nobody}, who="moderator"),
        # malformed ids
        Case("POST", "/v1/proposals/not-a-uuid/comments", 422, "validation-error", {"body": "x"}),
        Case("GET", "/v1/comments/not-a-uuid", 422, "validation-error"),
        Case("PUT", "/v1/comments/123/like", 422, "validation-error"),
        Case("GET", "/v1/forums/nope/opinions", 422, "validation-error"),
        # malformed, oversized, mistyped and unknown bodies
        Case("POST", comments, 400, "malformed-json", content=b'{"body": "x"'),
        Case("POST", opinions, 400, "malformed-json", content=b"not json"),
        Case("POST", f"{one}/reports", 400, "malformed-json", content=b"{"),
        Case("POST", comments, 413, "payload-too-large", {"body": "가" * 400_000}),
        Case("PATCH", one, 413, "payload-too-large", {"body": "a" * 1_100_000}, who="author"),
        Case("POST", comments, 422, "text-too-long", {"body": long_body}),
        Case("PATCH", one, 422, "text-too-long", {"body": long_body}, who="author"),
        Case("POST", opinions, 422, "text-too-long", {"stance": "pro", "body": long_body}),
        Case("POST", comments, 422, "validation-error", {"body": 5}),
        Case("POST", comments, 422, "validation-error", {"body": "x", "author_id": nobody}),
        Case("POST", comments, 422, "validation-error", {"body": "x", "parent_id": "nope"}),
        Case("POST", comments, 422, "validation-error", {}),
        Case("POST", comments, 422, "validation-error", ["body"]),
        Case("POST", comments, 422, "empty-text", {"body": " \n\t\u3000"}),
        Case("POST", comments, 422, "invalid-characters", {"body": "안녕\u0000하세요"}),
        Case("POST", comments, 422, "invalid-characters", {"body": "abc\u202edcba"}),
        Case("PATCH", one, 422, "empty-text", {"body": "   "}, who="author"),
        Case("PATCH", one, 422, "validation-error", {"body": "x", "status": "published"}, who="author"),
        Case("POST", opinions, 422, "validation-error", {"stance": "maybe", "body": "x"}),
        Case("POST", opinions, 422, "validation-error", {"body": "x"}),
        Case("POST", f"{one}/reports", 422, "validation-error", {"reason": "boring"}),
        Case("POST", f"{one}/reports", 422, "validation-error", {"reason": "spam", "detail": 7}),
        Case("POST", f"{one}/reports", 422, "empty-text", {"reason": "spam", "detail": "  "}),
        Case("POST", f"{one}/hide", 422, "validation-error", {}, who="moderator"),
        Case("POST", f"{one}/hide", 422, "empty-text", {"reason": " "}, who="moderator"),
        Case("POST", f"{one}/restore", 422, "validation-error", {"note": "x"}, who="moderator"),
        Case("POST", f"{one}/hide", 422, "text-too-long", {"reason": "가" * 501}, who="moderator"),
        # query parameters
        Case("GET", comments, 422, "validation-error", params={"sort": "best"}),
        Case("GET", comments, 422, "validation-error", params={"limit": 0}),
        Case("GET", comments, 422, "validation-error", params={"limit": 101}),
        Case("GET", comments, 422, "validation-error", params={"parent_id": "x"}),
        Case("GET", comments, 422, "invalid-parent", params={"parent_id": nobody}),
        Case("GET", comments, 400, "invalid-cursor", params={"cursor": "garbage!"}),
        Case("GET", opinions, 422, "validation-error", params={"stance": "maybe"}),
        Case("GET", opinions, 400, "invalid-cursor", params={"cursor": "WyJ4Il0"}),
        Case("GET", "/v1/moderation/queue", 400, "invalid-cursor", params={"cursor": "x"}, who="moderator"),
        Case("GET", "/v1/moderation/decisions", 422, "validation-error", params={"limit": -1}, who="moderator"),
    ]  # fmt: skip
    return cases


def _headers(d: Deliberation, w: World, who: str) -> dict[str, str]:
    if who == "nobody":
        return {}
    if who == "forged":
        return {"Authorization": f"Bearer {TestTokens().issue()}"}  # another key
    if who == "staff_only":
        # Not a citizen, in the token and in what identity-svc says now (the live check of
        # writing asks it).
        staff = uuid.uuid4()
        headers = d.tokens.headers(staff, roles=["admin"])
        assert d.tokens.identity is not None
        d.tokens.identity.citizens[staff] = {
            "status": "active",
            "roles": ["admin"],
            "department": None,
        }
        return headers
    if who == "moderator":
        return d.moderator()
    return w.author if who == "author" else d.citizen()


async def test_bad_input_is_a_problem_and_writes_nothing(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    clock: ManualClock,
    proposal_settings: ProposalSettings,
) -> None:
    d = Deliberation(client, tokens)
    w = await _world(d, clock)
    before = await counts(proposal_settings)
    for case in _cases(w, proposal_settings):
        headers = _headers(d, w, case.who)
        if case.content is not None:
            headers = {**headers, "Content-Type": "application/json"}
        response = await client.request(
            case.method,
            case.path,
            json=case.json,
            content=case.content,
            params=case.params,
            headers=headers,
        )
        where = f"{case.method} {case.path} {case.params or ''} as {case.who}"
        assert response.status_code == case.status, (where, response.text)
        assert response.headers["content-type"] == "application/problem+json", where
        if case.slug is not None:
            assert response.json()["type"].endswith(f"/{case.slug}"), (where, response.text)
        if case.status == 401:
            assert response.headers["www-authenticate"].startswith("Bearer"), where
    assert await counts(proposal_settings) == before


async def test_posting_is_rate_limited_per_citizen(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    clock: ManualClock,
    proposal_settings: ProposalSettings,
) -> None:
    d = Deliberation(client, tokens)
    pid, fid = await d.proposal(), await d.forum(clock)
    clock.set(clock.now().replace(second=10, microsecond=0))
    citizen = d.citizen()
    per_minute = proposal_settings.comment_rate_limits[0]
    assert (per_minute.limit, per_minute.seconds) == (5, 60)
    for i in range(4):
        await d.comment(pid, f"댓글 {i}", citizen)
    await d.opinion(fid, "pro", citizen)  # opinions count with comments
    before = await counts(proposal_settings)
    limited = await client.post(
        f"/v1/proposals/{pid}/comments", json={"body": "여섯 번째"}, headers=citizen
    )
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert limited.headers["retry-after"] == "50"
    problem = limited.json()
    assert problem["type"].endswith("/rate-limited")
    assert (problem["limit"], problem["window_seconds"], problem["retry_after"]) == (5, 60, 50)
    assert await counts(proposal_settings) == before
    assert (await d.comment(pid, "다른 시민", d.citizen()))["status"] == "published"
    clock.advance(seconds=50)
    assert (await d.comment(pid, "1분 뒤", citizen))["status"] == "published"


async def test_reports_are_rate_limited_apart_from_posts(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    clock: ManualClock,
    proposal_settings: ProposalSettings,
) -> None:
    d = Deliberation(client, tokens)
    pid = await d.proposal()
    clock.set(clock.now().replace(second=0, microsecond=0))
    reporter = d.citizen()
    limit = proposal_settings.comment_report_rate_limits[0].limit
    targets = [(await d.comment(pid))["id"] for _ in range(limit + 1)]
    for cid in targets[:limit]:
        assert (await d.report(cid, headers=reporter)).status_code == 201
    limited = await d.report(targets[-1], headers=reporter)
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "60")
    assert (await d.comment(pid, "신고와 별개", reporter))["status"] == "published"
