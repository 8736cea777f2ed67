"""The internal API for notify-svc: who voted in a forum or agreed with a proposal, paged by
citizen id, only for signed service requests (against real PostgreSQL)."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from vote_helpers import Sessions, open_forum, open_proposal

from services.internal_auth import DEV_NOTIFY_SERVICE_KEY, ServiceAuth, decode_service_key
from services_dev.testing import running_app
from services_dev.testing.tokens import TestTokens
from vote_svc.bootstrap import bootstrap
from vote_svc.config import VoteSettings
from vote_svc.main import create_app

NOTIFY = ServiceAuth("notify-svc", decode_service_key(DEV_NOTIFY_SERVICE_KEY))


async def _ballot(
    client: httpx.AsyncClient, tokens: TestTokens, citizen: uuid.UUID, forum: uuid.UUID, choice: str
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/votes/forums/{forum}/ballots",
        json={"choice": choice},
        headers=tokens.headers(citizen),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _agree(
    client: httpx.AsyncClient, tokens: TestTokens, citizen: uuid.UUID, proposal: uuid.UUID
) -> None:
    response = await client.post(
        "/v1/votes/agreements",
        json={"proposal_id": str(proposal)},
        headers=tokens.headers(citizen),
    )
    assert response.status_code == 201, response.text


async def _all_pages(client: httpx.AsyncClient, path: str, limit: int) -> tuple[list[Any], int]:
    items: list[Any] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await client.get(path, params=params, auth=NOTIFY)
        assert response.status_code == 200, response.text
        pages += 1
        items += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return items, pages


async def test_forum_participants_are_listed_with_their_choice(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    forum = await open_forum(sessions)
    other_forum = await open_forum(sessions)
    citizens = [uuid.uuid4() for _ in range(5)]
    cast = {}
    for n, citizen in enumerate(citizens):
        cast[str(citizen)] = await _ballot(client, tokens, citizen, forum, ["찬성", "반대"][n % 2])
    await _ballot(client, tokens, uuid.uuid4(), other_forum, "유보")

    response = await client.get(f"/internal/v1/forums/{forum}/participants", auth=NOTIFY)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None
    assert [item["citizen_id"] for item in body["items"]] == sorted(map(str, citizens))
    for item in body["items"]:
        vote = cast[item["citizen_id"]]
        assert item["choice"] == vote["choice"]
        assert datetime.fromisoformat(item["cast_at"]) == datetime.fromisoformat(vote["cast_at"])


async def test_participants_page_through_every_ballot_exactly_once(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    forum = await open_forum(sessions)
    citizens = sorted(str(c) for c in (uuid.uuid4() for _ in range(7)))
    for citizen in citizens:
        await _ballot(client, tokens, uuid.UUID(citizen), forum, "찬성")
    items, pages = await _all_pages(client, f"/internal/v1/forums/{forum}/participants", limit=3)
    assert [item["citizen_id"] for item in items] == citizens
    assert pages == 3
    exact, pages = await _all_pages(client, f"/internal/v1/forums/{forum}/participants", limit=7)
    assert len(exact) == 7
    assert pages == 1


async def test_proposal_agreements_are_listed(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    proposal = await open_proposal(sessions)
    citizens = sorted(str(c) for c in (uuid.uuid4() for _ in range(4)))
    for citizen in citizens:
        await _agree(client, tokens, uuid.UUID(citizen), proposal)
    items, pages = await _all_pages(client, f"/internal/v1/proposals/{proposal}/agreements", 2)
    assert [item["citizen_id"] for item in items] == citizens
    assert {item["choice"] for item in items} == {"agree"}
    assert pages == 2


async def test_a_forum_without_ballots_is_an_empty_page(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    forum = await open_forum(sessions)
    response = await client.get(f"/internal/v1/forums/{forum}/participants", auth=NOTIFY)
    assert response.json() == {"items": [], "next_cursor": None}


async def test_unknown_targets_are_404(client: httpx.AsyncClient, sessions: Sessions) -> None:
    proposal = await open_proposal(sessions)
    forum = await client.get(f"/internal/v1/forums/{uuid.uuid4()}/participants", auth=NOTIFY)
    assert forum.status_code == 404
    assert forum.json()["type"].endswith("/forum-not-found")
    # A proposal's id is not a forum.
    mixed = await client.get(f"/internal/v1/forums/{proposal}/participants", auth=NOTIFY)
    assert mixed.status_code == 404
    unknown = await client.get(f"/internal/v1/proposals/{uuid.uuid4()}/agreements", auth=NOTIFY)
    assert unknown.status_code == 404
    assert unknown.json()["type"].endswith("/proposal-not-found")


@pytest.mark.parametrize(
    ("params", "status", "slug"),
    [
        ({"cursor": "not a cursor"}, 400, "invalid-cursor"),
        ({"cursor": "AAAA"}, 400, "invalid-cursor"),
        ({"limit": 0}, 422, "validation-error"),
        ({"limit": 501}, 422, "validation-error"),
    ],
)
async def test_bad_page_parameters_are_refused(
    client: httpx.AsyncClient, sessions: Sessions, params: dict[str, Any], status: int, slug: str
) -> None:
    forum = await open_forum(sessions)
    response = await client.get(
        f"/internal/v1/forums/{forum}/participants", params=params, auth=NOTIFY
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/" + slug)


async def test_only_signed_notify_requests_get_in(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    forum = await open_forum(sessions)
    citizen = uuid.uuid4()
    await _ballot(client, tokens, citizen, forum, "찬성")
    path = f"/internal/v1/forums/{forum}/participants"
    unsigned = await client.get(path)
    assert unsigned.status_code == 401
    assert unsigned.json()["type"].endswith("/service-auth-required")
    # A citizen's access token is no way in: citizen ids stay internal.
    with_token = await client.get(path, headers=tokens.headers(citizen))
    assert with_token.status_code == 401
    forged = await client.get(path, auth=ServiceAuth("notify-svc", b"f" * 32))
    assert forged.status_code == 401
    assert forged.json()["type"].endswith("/service-auth-invalid")
    for refused in (unsigned, with_token, forged):
        assert str(citizen) not in refused.text


async def test_a_known_service_other_than_notify_is_403(
    vote_settings: VoteSettings, tokens: TestTokens, sessions: Sessions
) -> None:
    ledger_key = b"L" * 32
    settings = VoteSettings(
        **{
            **vote_settings.model_dump(),
            "internal_keys": {
                "notify-svc": DEV_NOTIFY_SERVICE_KEY,
                "ledger-svc": base64.b64encode(ledger_key).decode(),
            },
        }
    )
    forum = await open_forum(sessions)
    async with running_app(create_app(bootstrap(settings), key_source=tokens)) as client:
        path = f"/internal/v1/forums/{forum}/participants"
        refused = await client.get(path, auth=ServiceAuth("ledger-svc", ledger_key))
        assert refused.status_code == 403
        assert refused.json()["type"].endswith("/service-not-allowed")
        assert (await client.get(path, auth=NOTIFY)).status_code == 200


def test_the_dev_internal_key_is_refused_in_production() -> None:
    tag_key = base64.b64encode(bytes(range(32))).decode()
    with pytest.raises(ValidationError, match="VOTE_INTERNAL_KEYS must be set in production"):
        VoteSettings(environment="production", ledger_tag_key=tag_key)
    own = {"notify-svc": base64.b64encode(b"n" * 32).decode()}
    production = VoteSettings(
        environment="production",
        ledger_tag_key=tag_key,
        internal_keys=own,
        service_key=base64.b64encode(b"v" * 32).decode(),
        signal_key=base64.b64encode(b"s" * 32).decode(),
    )
    assert production.internal_key_bytes == {"notify-svc": b"n" * 32}
    with pytest.raises(ValidationError, match="VOTE_INTERNAL_KEYS"):
        VoteSettings(internal_keys={"notify-svc": "c2hvcnQ="})
