"""Reports, holds and moderation over HTTP: the report threshold holds a comment, the word list
and personal data hold it at posting, moderators hide and restore from the queue, every
decision is recorded, and a held text never leaves the service in events or logs."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
from deliberation_helpers import Deliberation, events

from proposal_svc.config import ProposalSettings
from services.clock import ManualClock
from services_dev.testing.tokens import TestTokens


async def _queue(client: httpx.AsyncClient, d: Deliberation, **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/moderation/queue", params=params, headers=d.moderator())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _decisions(client: httpx.AsyncClient, d: Deliberation, cid: str) -> list[dict[str, Any]]:
    response = await client.get(
        "/v1/moderation/decisions", params={"comment_id": cid}, headers=d.admin()
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_reports_reaching_the_threshold_hold_the_comment(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    clock: ManualClock,
    proposal_settings: ProposalSettings,
) -> None:
    d = Deliberation(client, tokens)
    author = uuid.uuid4()
    comment = await d.comment(await d.proposal(), "이런 제안은 필요 없어요", d.citizen(author))
    cid = comment["id"]
    assert (await d.report(cid, headers=d.citizen(author))).status_code == 403  # own comment
    reporter = uuid.uuid4()
    first = await client.post(
        f"/v1/comments/{cid}/reports",
        json={"reason": "abuse", "detail": " 욕설이 있어요 "},
        headers=d.citizen(reporter),
    )
    assert first.status_code == 201, first.text
    report = first.json()
    assert first.headers["location"] == f"/v1/comments/{cid}/reports/{report['id']}"
    assert (report["reason"], report["detail"], report["status"]) == (
        "abuse",
        "욕설이 있어요",
        "open",
    )
    again = await d.report(cid, "spam", d.citizen(reporter))
    assert again.status_code == 409
    assert again.json()["report_id"] == report["id"]
    assert (await d.read(cid))["status"] == "published"  # 1 of 3
    clock.advance(minutes=1)
    assert (await d.report(cid, "spam")).status_code == 201
    clock.advance(minutes=1)
    assert (await d.report(cid, "abuse")).status_code == 201  # the third holds it
    held = await d.read(cid)
    assert (held["status"], held["body"], held["held_rule"]) == ("held", None, "reports")
    (item,) = (await _queue(client, d))["items"]
    assert item["comment"]["id"] == cid
    assert item["comment"]["body"] == "이런 제안은 필요 없어요"  # moderators read it
    assert item["comment"]["author_id"] == str(author)
    assert (item["comment"]["open_reports"], item["reasons"]) == (3, {"abuse": 2, "spam": 1})
    assert [r["reason"] for r in item["reports"]] == ["abuse", "spam", "abuse"]
    assert item["reports"][0]["detail"] == "욕설이 있어요"
    held_events = await events(proposal_settings, "comment.held")
    assert [e["data"]["rule"] for e in held_events] == ["reports"]
    assert held_events[0]["data"]["open_reports"] == 3
    (decision,) = await _decisions(client, d, cid)
    assert decision["action"] == "hold"
    assert (decision["automatic"], decision["rule"], decision["decided_by"]) == (
        True,
        "reports",
        None,
    )
    assert (decision["from_status"], decision["to_status"]) == ("published", "held")
    own = await client.get(
        f"/v1/comments/{cid}/reports/{report['id']}", headers=d.citizen(reporter)
    )
    assert own.status_code == 200
    other = await client.get(f"/v1/comments/{cid}/reports/{report['id']}", headers=d.citizen())
    assert other.status_code == 404
    by_moderator = await client.get(
        f"/v1/comments/{cid}/reports/{report['id']}", headers=d.moderator()
    )
    assert by_moderator.json() == own.json()


async def test_concurrent_reports_hold_once(
    client: httpx.AsyncClient, tokens: TestTokens, proposal_settings: ProposalSettings
) -> None:
    d = Deliberation(client, tokens)
    comment = await d.comment(await d.proposal())
    same = d.citizen()
    responses = await asyncio.gather(
        *(d.report(comment["id"]) for _ in range(10)),
        *(d.report(comment["id"], headers=same) for _ in range(10)),
    )
    assert Counter(r.status_code for r in responses) == {201: 11, 409: 9}
    (item,) = (await _queue(client, d))["items"]
    assert item["comment"]["open_reports"] == 11
    assert len(await events(proposal_settings, "comment.held")) == 1
    assert len(await _decisions(client, d, comment["id"])) == 1


async def test_a_moderator_hides_and_restores_and_every_decision_is_recorded(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    clock: ManualClock,
    proposal_settings: ProposalSettings,
) -> None:
    d = Deliberation(client, tokens)
    comment = await d.comment(await d.proposal(), "문제의 댓글")
    cid = comment["id"]
    for _ in range(3):
        await d.report(cid)
    moderator = uuid.uuid4()
    clock.advance(minutes=5)
    hidden = await client.post(
        f"/v1/comments/{cid}/hide",
        json={"reason": "욕설 및 인신공격"},
        headers=d.moderator(moderator),
    )
    assert hidden.status_code == 200, hidden.text
    assert (hidden.json()["status"], hidden.json()["body"]) == ("hidden", "문제의 댓글")
    public = await d.read(cid)
    assert (public["status"], public["body"], public["hidden_reason"]) == (
        "hidden",
        None,
        "욕설 및 인신공격",
    )
    assert (await _queue(client, d))["items"] == []
    assert (await d.report(cid)).status_code == 409  # nothing left to report
    again = await client.post(
        f"/v1/comments/{cid}/hide", json={"reason": "또"}, headers=d.moderator()
    )
    assert again.status_code == 409
    clock.advance(minutes=5)
    restored = await client.post(
        f"/v1/comments/{cid}/restore",
        json={"reason": "이의 신청 검토 결과 복원"},
        headers=d.tokens.headers(uuid.uuid4(), roles=["citizen", "admin"]),
    )
    assert restored.status_code == 200, restored.text
    public = await d.read(cid)
    assert (public["status"], public["body"], public["hidden_reason"]) == (
        "published",
        "문제의 댓글",
        None,
    )
    restore, hide, hold = await _decisions(client, d, cid)
    assert (hold["action"], hold["automatic"], hold["rule"]) == ("hold", True, "reports")
    assert (hide["action"], hide["automatic"], hide["reason"]) == (
        "hide",
        False,
        "욕설 및 인신공격",
    )
    assert (hide["decided_by"], hide["decided_by_role"]) == (str(moderator), "moderator")
    assert (hide["from_status"], hide["to_status"], hide["open_reports"]) == ("held", "hidden", 3)
    assert (restore["action"], restore["decided_by_role"], restore["reason"]) == (
        "restore",
        "admin",
        "이의 신청 검토 결과 복원",
    )
    assert restore["decided_at"] > hide["decided_at"] > hold["decided_at"]
    types = [e["type"].split(".")[-2] for e in await events(proposal_settings, "comment.")]
    assert types == ["posted", "held", "hidden", "restored"]
    # Restored: its reports are closed, and three new reporters are needed to hold it again.
    assert (await d.report(cid)).status_code == 201
    assert (await d.read(cid))["status"] == "published"


async def test_restoring_a_reported_published_comment_dismisses_the_reports(
    client: httpx.AsyncClient, tokens: TestTokens, proposal_settings: ProposalSettings
) -> None:
    d = Deliberation(client, tokens)
    cid = (await d.comment(await d.proposal()))["id"]
    refused = await client.post(f"/v1/comments/{cid}/restore", headers=d.moderator())
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/comment-not-moderated")
    reporter = uuid.uuid4()
    report = (await d.report(cid, "off_topic", d.citizen(reporter))).json()
    assert [i["comment"]["id"] for i in (await _queue(client, d))["items"]] == [cid]
    kept = await client.post(f"/v1/comments/{cid}/restore", headers=d.moderator())
    assert kept.status_code == 200, kept.text
    assert (kept.json()["status"], kept.json()["open_reports"]) == ("published", 0)
    assert (await _queue(client, d))["items"] == []
    mine = await client.get(
        f"/v1/comments/{cid}/reports/{report['id']}", headers=d.citizen(reporter)
    )
    assert mine.json()["status"] == "closed"
    assert await events(proposal_settings, "comment.restored") == []  # nothing public changed


async def test_the_queue_lists_the_longest_waiting_first_in_pages(
    client: httpx.AsyncClient, tokens: TestTokens, clock: ManualClock
) -> None:
    d = Deliberation(client, tokens)
    pid = await d.proposal()
    ids = [(await d.comment(pid))["id"] for _ in range(5)]
    for cid in [ids[3], ids[0], ids[4], ids[1]]:
        clock.advance(seconds=10)
        assert (await d.report(cid)).status_code == 201
    clock.advance(seconds=10)
    assert (await d.report(ids[3])).status_code == 201  # still waiting since its first report
    seen: list[str] = []
    cursor = None
    while True:
        page = await _queue(client, d, limit=3, **({"cursor": cursor} if cursor else {}))
        seen += [i["comment"]["id"] for i in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == [ids[3], ids[0], ids[4], ids[1]]


@pytest.mark.parametrize(
    ("body", "rule", "secret"),
    [
        ("이 병신같은 제안", "word_list", "병신"),
        ("제 번호 010-1234-5678로 연락 주세요", "privacy", "010-1234-5678"),
        ("주민번호 900101-1234567 입니다", "privacy", "900101-1234567"),
    ],
)
async def test_a_listed_word_or_personal_data_holds_at_posting_and_never_leaves(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    proposal_settings: ProposalSettings,
    caplog: pytest.LogCaptureFixture,
    body: str,
    rule: str,
    secret: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    d = Deliberation(client, tokens)
    pid = await d.proposal()
    created = await d.comment(pid, body)
    assert (created["status"], created["body"], created["held_rule"]) == ("held", None, rule)
    listing = (await client.get(f"/v1/proposals/{pid}/comments")).json()
    assert listing["counts"] == {"total": 1, "published": 0}
    assert listing["items"][0]["body"] is None
    (item,) = (await _queue(client, d))["items"]
    assert (item["comment"]["body"], item["reasons"]) == (body, {})
    envelopes = await events(proposal_settings)
    assert [e["type"].split(".")[-2] for e in envelopes[-2:]] == ["posted", "held"]
    assert envelopes[-2]["data"]["status"] == "held"
    assert envelopes[-1]["data"]["rule"] == rule
    (decision,) = await _decisions(client, d, created["id"])
    assert (decision["from_status"], decision["rule"]) == ("new", rule)
    assert all(secret not in str(e) for e in envelopes)
    assert secret not in caplog.text
    liked = await client.put(f"/v1/comments/{created['id']}/like", headers=d.citizen())
    assert liked.status_code == 409  # nobody can read it, nobody likes it


async def test_an_edit_is_screened_again_and_a_held_comment_stays_held(
    client: httpx.AsyncClient, tokens: TestTokens
) -> None:
    d = Deliberation(client, tokens)
    author = uuid.uuid4()
    comment = await d.comment(await d.proposal(), "평범한 댓글", d.citizen(author))
    path = f"/v1/comments/{comment['id']}"
    edited = await client.patch(
        path, json={"body": "연락처 010 9876 5432"}, headers=d.citizen(author)
    )
    assert (edited.json()["status"], edited.json()["held_rule"]) == ("held", "privacy")
    fixed = await client.patch(path, json={"body": "연락처는 지웠어요"}, headers=d.citizen(author))
    assert fixed.json()["status"] == "held"  # only a moderator publishes it again
    restored = await client.post(f"{path}/restore", headers=d.moderator())
    assert (restored.json()["status"], restored.json()["body"]) == (
        "published",
        "연락처는 지웠어요",
    )


async def test_moderation_needs_the_moderator_or_admin_role(
    client: httpx.AsyncClient, tokens: TestTokens
) -> None:
    d = Deliberation(client, tokens)
    cid = (await d.comment(await d.proposal()))["id"]
    routes: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "/v1/moderation/queue", None),
        ("GET", "/v1/moderation/decisions", None),
        ("POST", f"/v1/comments/{cid}/hide", {"reason": "사유"}),
        ("POST", f"/v1/comments/{cid}/restore", {}),
        ("GET", f"/v1/comments/{cid}/edits", None),
    ]
    staff = tokens.headers(uuid.uuid4(), roles=["citizen", "department"], department="교통실")
    for method, path, body in routes:
        for headers, status in ((d.citizen(), 403), (staff, 403), ({}, 401)):
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status_code == status, (method, path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
    assert (await d.read(cid))["status"] == "published"
