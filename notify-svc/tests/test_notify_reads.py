"""A citizen's inbox: what each message is about (``proposal_id``, ``forum_id``) and its deep
link, ``read_at``, marking one or all read, the unread count; owner only, problem+json on every
refusal and nothing changed. Real PostgreSQL behind notify-svc's app."""

from __future__ import annotations

import uuid

import httpx
from notify_helpers import Notify
from test_notify_api import PROBLEM, assert_problem

from notify_svc.models import Notification
from services.clock import ManualClock
from services.db import transaction
from services_dev.testing.tokens import TestTokens

WEB = "http://localhost:5173"


async def unread(client: httpx.AsyncClient, tokens: TestTokens, citizen: uuid.UUID) -> int:
    response = await client.get("/v1/notifications/unread-count", headers=tokens.headers(citizen))
    assert response.status_code == 200, response.text
    count: int = response.json()["unread"]
    return count


async def test_messages_carry_what_they_are_about_and_a_deep_link(
    client: httpx.AsyncClient, tokens: TestTokens, notify: Notify
) -> None:
    me = uuid.uuid4()
    proposal_id, forum_id = uuid.uuid4(), uuid.uuid4()
    await notify.plan([me], proposal_id=proposal_id)
    await notify.plan(
        [me],
        code="FOLLOWED_FORUM_OPENED",
        variables={"공론장제목": "따릉이 공론장", "마감일시": "2026-12-09 12:00"},
        proposal_id=proposal_id,
        forum_id=forum_id,
    )
    page = (await client.get("/v1/notifications/mine", headers=tokens.headers(me))).json()
    by_code = {item["template_code"]: item for item in page["items"]}
    answered, forum = by_code["PROPOSAL_ANSWERED"], by_code["FOLLOWED_FORUM_OPENED"]
    assert (answered["proposal_id"], answered["forum_id"]) == (str(proposal_id), None)
    assert answered["link"] == f"{WEB}/proposals/{proposal_id}"
    assert (forum["proposal_id"], forum["forum_id"]) == (str(proposal_id), str(forum_id))
    assert forum["link"] == f"{WEB}/forums/{forum_id}"
    assert answered["read_at"] is None
    assert page["unread"] == 2


async def test_read_one_then_all_and_the_unread_count(
    client: httpx.AsyncClient, tokens: TestTokens, notify: Notify, clock: ManualClock
) -> None:
    me, other = uuid.uuid4(), uuid.uuid4()
    for _ in range(3):
        await notify.plan([me], proposal_id=uuid.uuid4())
    await notify.plan([other])
    assert await unread(client, tokens, me) == 3
    first = (await notify.rows(citizen_id=me))[0]

    read = await client.post(f"/v1/notifications/{first.id}/read", headers=tokens.headers(me))
    assert read.status_code == 200, read.text
    assert read.json()["read_at"] == clock.now().isoformat().replace("+00:00", "Z")
    assert read.json()["link"] == f"{WEB}/proposals/{first.proposal_id}"
    assert await unread(client, tokens, me) == 2
    # Again: still read, at the first time.
    clock.advance(minutes=5)
    again = await client.post(f"/v1/notifications/{first.id}/read", headers=tokens.headers(me))
    assert again.json()["read_at"] == read.json()["read_at"]

    done = await client.post("/v1/notifications/read-all", headers=tokens.headers(me))
    assert done.status_code == 200, done.text
    assert done.json() == {"marked": 2, "unread": 0}
    assert await unread(client, tokens, me) == 0
    assert all(r.read_at is not None for r in await notify.rows(citizen_id=me))
    # The other citizen's message is untouched.
    assert await unread(client, tokens, other) == 1
    again_all = await client.post("/v1/notifications/read-all", headers=tokens.headers(me))
    assert again_all.json() == {"marked": 0, "unread": 0}


async def test_a_fallback_is_the_same_message_read_with_it(
    client: httpx.AsyncClient, tokens: TestTokens, notify: Notify
) -> None:
    me = uuid.uuid4()
    await notify.plan([me])
    alimtalk = await notify.one(citizen_id=me)
    fallback_id = uuid.uuid4()
    async with transaction(notify.sessions) as session:
        session.add(
            Notification(
                id=fallback_id,
                event_id=alimtalk.event_id,
                event_type=alimtalk.event_type,
                citizen_id=me,
                channel="sms",
                template_code=alimtalk.template_code,
                text="[시민참여] 답변 등록",
                idempotency_key=str(uuid.uuid4()),
                fallback_of=alimtalk.id,
            )
        )
    assert await unread(client, tokens, me) == 1
    response = await client.post(
        f"/v1/notifications/{fallback_id}/read", headers=tokens.headers(me)
    )
    assert response.status_code == 200, response.text
    assert await unread(client, tokens, me) == 0
    assert all(r.read_at is not None for r in await notify.rows(citizen_id=me))


async def test_reads_are_owner_only_and_refusals_change_nothing(
    client: httpx.AsyncClient, tokens: TestTokens, notify: Notify
) -> None:
    me, other = uuid.uuid4(), uuid.uuid4()
    await notify.plan([other])
    theirs = await notify.one(citizen_id=other)
    url = f"/v1/notifications/{theirs.id}/read"

    # Another citizen's message is as unknown as one that does not exist.
    body = assert_problem(
        await client.post(url, headers=tokens.headers(me)), 404, "notification-not-found"
    )
    assert str(theirs.id) in body["detail"]
    assert_problem(
        await client.post(f"/v1/notifications/{uuid.uuid4()}/read", headers=tokens.headers(me)),
        404,
        "notification-not-found",
    )
    assert_problem(
        await client.post("/v1/notifications/not-a-uuid/read", headers=tokens.headers(me)),
        422,
        "validation-error",
    )
    for method, path in (
        ("POST", url),
        ("POST", "/v1/notifications/read-all"),
        ("GET", "/v1/notifications/unread-count"),
    ):
        assert_problem(await client.request(method, path), 401, "invalid-token")
        forged = {"Authorization": "Bearer not-a-token"}
        assert_problem(await client.request(method, path, headers=forged), 401, "invalid-token")
        staff = tokens.headers(roles=["department"])
        response = await client.request(method, path, headers=staff)
        assert response.status_code == 403
        assert response.headers["content-type"] == PROBLEM
    assert (await notify.one(citizen_id=other)).read_at is None
    assert await unread(client, tokens, other) == 1


async def test_the_deep_link_follows_the_configured_web_base_url(
    notify: Notify, tokens: TestTokens
) -> None:
    from notify_svc.bootstrap import bootstrap
    from notify_svc.main import create_app
    from services_dev.testing import running_app

    me, proposal_id = uuid.uuid4(), uuid.uuid4()
    await notify.plan([me], proposal_id=proposal_id)
    settings = notify.ctx.settings.model_copy(
        update={"web_base_url": "https://democracy.seoul.go.kr/"}
    )
    async with running_app(
        create_app(bootstrap(settings, clock=notify.clock), key_source=tokens)
    ) as client:
        page = (await client.get("/v1/notifications/mine", headers=tokens.headers(me))).json()
    assert page["items"][0]["link"] == f"https://democracy.seoul.go.kr/proposals/{proposal_id}"


async def test_an_unknown_query_parameter_is_a_422_and_changes_nothing(
    client: httpx.AsyncClient, tokens: TestTokens, notify: Notify
) -> None:
    me = uuid.uuid4()
    await notify.plan([me])
    mine = await notify.one(citizen_id=me)
    for method, path in (
        ("GET", "/v1/notifications/mine?limits=5"),
        ("GET", "/v1/notifications/unread-count?citizen_id=x"),
        ("POST", "/v1/notifications/read-all?before=2026-01-01"),
        ("POST", f"/v1/notifications/{mine.id}/read?all=true"),
    ):
        response = await client.request(method, path, headers=tokens.headers(me))
        body = assert_problem(response, 422, "unknown-query-parameter")
        assert body["allowed"] in ([], ["cursor", "limit"])
    assert (await notify.one(citizen_id=me)).read_at is None
    ok = await client.get("/v1/notifications/mine?limit=5", headers=tokens.headers(me))
    assert ok.status_code == 200
