"""Comments on proposals over HTTP: posting and replies (one level), listings with their counts
and cursors, editing within the window with the history kept, tombstones, the timeline's daily
count, and the events they publish."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from deliberation_helpers import Deliberation, events

from proposal_svc.config import ProposalSettings
from services.clock import ManualClock
from services_dev.testing.tokens import TestTokens


async def _listing(client: httpx.AsyncClient, pid: str, **params: Any) -> dict[str, Any]:
    response = await client.get(f"/v1/proposals/{pid}/comments", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_comments_and_replies_one_level_deep(
    client: httpx.AsyncClient, tokens: TestTokens, clock: ManualClock
) -> None:
    d = Deliberation(client, tokens)
    proposer = uuid.uuid4()
    pid = await d.proposal(proposer)
    response = await client.post(
        f"/v1/proposals/{pid}/comments",
        json={"body": "  출근길 대여소가 늘 비어 있어요 🚲  "},
        headers=d.citizen(),
    )
    assert response.status_code == 201, response.text
    top = response.json()
    assert response.headers["location"] == f"/v1/comments/{top['id']}"
    assert (await d.read(top["id"])) == top
    assert top["body"] == "출근길 대여소가 늘 비어 있어요 🚲"  # trimmed
    assert (top["kind"], top["status"], top["parent_id"], top["stance"]) == (
        "comment",
        "published",
        None,
        None,
    )
    assert (top["like_count"], top["reply_count"], top["by_proposal_author"]) == (0, 0, False)
    clock.advance(seconds=1)
    reply = await d.comment(pid, "동의합니다", d.citizen(proposer), parent_id=top["id"])
    assert (reply["parent_id"], reply["by_proposal_author"]) == (top["id"], True)
    clock.advance(seconds=1)
    # A reply to a reply answers the top-level comment: threads are one level deep.
    nested = await d.comment(pid, "저도요", parent_id=reply["id"])
    assert nested["parent_id"] == top["id"]
    clock.advance(seconds=1)
    other = await d.comment(pid, "다른 의견입니다")

    listing = await _listing(client, pid)
    assert listing["counts"] == {"total": 4, "published": 4}
    assert [c["id"] for c in listing["items"]] == [other["id"], top["id"]]
    first = listing["items"][1]
    assert first["reply_count"] == 2
    assert [r["id"] for r in first["replies"]] == [reply["id"], nested["id"]]  # oldest first
    assert listing["items"][0]["replies"] == []
    replies = await _listing(client, pid, parent_id=top["id"], sort="oldest")
    assert replies["parent_id"] == top["id"]
    assert [c["id"] for c in replies["items"]] == [reply["id"], nested["id"]]
    assert (await d.read(top["id"]))["reply_count"] == 2


async def test_a_reply_elsewhere_or_to_an_unreadable_comment_is_refused(
    client: httpx.AsyncClient, tokens: TestTokens
) -> None:
    d = Deliberation(client, tokens)
    pid, elsewhere = await d.proposal(), await d.proposal()
    foreign = await d.comment(elsewhere)
    for parent in (foreign["id"], str(uuid.uuid4())):
        refused = await client.post(
            f"/v1/proposals/{pid}/comments",
            json={"body": "답글", "parent_id": parent},
            headers=d.citizen(),
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["type"].endswith("/invalid-parent")
    author = d.citizen()
    gone = await d.comment(pid, headers=author)
    assert (await client.delete(f"/v1/comments/{gone['id']}", headers=author)).status_code == 200
    refused = await client.post(
        f"/v1/proposals/{pid}/comments",
        json={"body": "답글", "parent_id": gone["id"]},
        headers=d.citizen(),
    )
    assert refused.status_code == 409
    assert refused.json()["parent_status"] == "deleted"
    listing = await client.get(f"/v1/proposals/{pid}/comments", params={"parent_id": foreign["id"]})
    assert listing.status_code == 422


async def test_sorts_and_cursors_visit_every_comment_once(
    client: httpx.AsyncClient, tokens: TestTokens, clock: ManualClock
) -> None:
    d = Deliberation(client, tokens)
    pid = await d.proposal()
    ids = []
    for _ in range(7):
        clock.advance(seconds=1)
        ids.append((await d.comment(pid))["id"])
    for count, cid in zip([0, 3, 1, 3, 0, 2, 1], ids, strict=True):
        for _ in range(count):
            liked = await client.put(f"/v1/comments/{cid}/like", headers=d.citizen())
            assert liked.status_code == 200, liked.text
    expected = {
        "recent": ids[::-1],
        "oldest": ids,
        # Most liked first, the newer first among equals.
        "liked": [ids[3], ids[1], ids[5], ids[6], ids[2], ids[4], ids[0]],
    }
    for sort, order in expected.items():
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"sort": sort, "limit": 3}
            if cursor:
                params["cursor"] = cursor
            page = await _listing(client, pid, **params)
            seen += [c["id"] for c in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
            other_sort = "oldest" if sort != "oldest" else "recent"
            refused = await client.get(
                f"/v1/proposals/{pid}/comments", params={"sort": other_sort, "cursor": cursor}
            )
            assert refused.status_code == 400
            assert refused.json()["type"].endswith("/invalid-cursor")
        assert seen == order, sort


async def test_the_author_edits_within_the_window_and_moderators_see_the_history(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    clock: ManualClock,
    proposal_settings: ProposalSettings,
) -> None:
    d = Deliberation(client, tokens)
    pid = await d.proposal()
    author = uuid.uuid4()
    created = await d.comment(pid, "첫 번째 글", d.citizen(author))
    path = f"/v1/comments/{created['id']}"
    assert (
        await client.patch(path, json={"body": "남의 글"}, headers=d.citizen())
    ).status_code == 403
    clock.advance(minutes=5)
    edited = await client.patch(path, json={"body": "고친 글"}, headers=d.citizen(author))
    assert edited.status_code == 200, edited.text
    assert (edited.json()["body"], edited.json()["edit_count"]) == ("고친 글", 1)
    assert edited.json()["edited_at"] is not None
    same = await client.patch(path, json={"body": " 고친 글 "}, headers=d.citizen(author))
    assert same.json()["edit_count"] == 1  # the same text is no edit
    history = await client.get(f"{path}/edits", headers=d.moderator())
    assert history.status_code == 200, history.text
    assert history.json()["body"] == "고친 글"
    assert [e["previous_body"] for e in history.json()["edits"]] == ["첫 번째 글"]
    assert (await client.get(f"{path}/edits", headers=d.citizen(author))).status_code == 403
    clock.advance(minutes=proposal_settings.comment_edit_minutes)
    late = await client.patch(path, json={"body": "너무 늦은 수정"}, headers=d.citizen(author))
    assert late.status_code == 409
    assert late.json()["type"].endswith("/edit-window-closed")
    assert [e["type"] for e in await events(proposal_settings, "comment.")] == [
        "kr.seoul.democracy.comment.posted.v1",
        "kr.seoul.democracy.comment.edited.v1",
    ]


async def test_deleting_leaves_a_tombstone_and_forgets_the_text(
    client: httpx.AsyncClient, tokens: TestTokens, clock: ManualClock
) -> None:
    d = Deliberation(client, tokens)
    pid = await d.proposal()
    author = uuid.uuid4()
    top = await d.comment(pid, "원래 글", d.citizen(author))
    path = f"/v1/comments/{top['id']}"
    await client.patch(path, json={"body": "수정한 글"}, headers=d.citizen(author))
    clock.advance(seconds=1)
    reply = await d.comment(pid, "답글입니다", parent_id=top["id"])
    assert (await client.delete(path, headers=d.citizen())).status_code == 403
    deleted = await client.delete(path, headers=d.citizen(author))
    assert deleted.status_code == 200, deleted.text
    tombstone = deleted.json()
    assert (tombstone["status"], tombstone["body"]) == ("deleted", None)
    assert tombstone["deleted_at"] is not None
    again = await client.delete(path, headers=d.citizen(author))
    assert again.json() == tombstone
    listing = await _listing(client, pid)
    assert listing["counts"] == {"total": 2, "published": 1}
    (item,) = listing["items"]
    assert (item["id"], item["status"], item["body"], item["reply_count"]) == (
        top["id"],
        "deleted",
        None,
        1,
    )
    assert [r["id"] for r in item["replies"]] == [reply["id"]]
    history = (await client.get(f"{path}/edits", headers=d.moderator())).json()
    assert history["body"] is None
    assert [e["previous_body"] for e in history["edits"]] == [None]
    edit = await client.patch(path, json={"body": "되살리기"}, headers=d.citizen(author))
    assert edit.status_code == 409
    like = await client.put(f"{path}/like", headers=d.citizen())
    assert like.status_code == 409


async def test_the_timeline_counts_comments_per_day_instead_of_listing_them(
    client: httpx.AsyncClient, tokens: TestTokens, clock: ManualClock
) -> None:
    d = Deliberation(client, tokens)
    clock.set(clock.now().replace(hour=1, minute=0))  # 10:00 in Seoul
    pid = await d.proposal()
    first = await d.comment(pid)
    await d.comment(pid, parent_id=first["id"])
    await d.comment(pid)
    clock.advance(hours=14)  # past midnight in Seoul, still the same day in UTC
    await d.comment(pid)
    timeline = (await client.get(f"/v1/proposals/{pid}/timeline")).json()["entries"]
    assert [e["kind"] for e in timeline] == ["submitted", "opened", "comments", "comments"]
    days = [e["data"] for e in timeline if e["kind"] == "comments"]
    today = (clock.now() - timedelta(hours=14) + timedelta(hours=9)).date()
    assert days == [
        {"date": today.isoformat(), "count": 3},
        {"date": (today + timedelta(days=1)).isoformat(), "count": 1},
    ]


async def test_posting_events_name_the_comment_never_its_author_or_text(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    proposal_settings: ProposalSettings,
) -> None:
    d = Deliberation(client, tokens)
    author = uuid.uuid4()
    pid = await d.proposal()
    top = await d.comment(pid, "따릉이 대여소 댓글", d.citizen(author))
    reply = await d.comment(pid, "따릉이 대여소 답글", d.citizen(author), parent_id=top["id"])
    await client.delete(f"/v1/comments/{reply['id']}", headers=d.citizen(author))
    posted, posted_reply, deleted = await events(proposal_settings, "comment.")
    assert posted["subject"] == f"comments/{top['id']}"
    assert posted["data"] == {
        "comment_id": top["id"],
        "target_type": "proposal",
        "target_id": pid,
        "parent_id": None,
        "status": "published",
        "posted_at": posted["data"]["posted_at"],
    }
    assert posted_reply["data"]["parent_id"] == top["id"]
    assert deleted["type"] == "kr.seoul.democracy.comment.deleted.v1"
    for envelope in (posted, posted_reply, deleted):
        text = str(envelope)
        assert str(author) not in text
        assert "대여소" not in text


async def test_only_active_proposals_take_comments(
    client: httpx.AsyncClient, tokens: TestTokens
) -> None:
    d = Deliberation(client, tokens)
    author = uuid.uuid4()
    pid = await d.proposal(author)
    withdrawn = await client.post(f"/v1/proposals/{pid}/withdrawal", headers=d.citizen(author))
    assert withdrawn.status_code == 200, withdrawn.text
    refused = await client.post(
        f"/v1/proposals/{pid}/comments", json={"body": "늦은 댓글"}, headers=d.citizen()
    )
    assert refused.status_code == 409
    assert refused.json()["proposal_status"] == "withdrawn"
