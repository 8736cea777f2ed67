"""Bad input on every endpoint: unauthenticated, forged tokens, wrong role, unknown ids,
malformed, mistyped and oversized bodies. Each is answered with problem+json, and nothing is
written (no vote, no tally, no outbox row)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from vote_helpers import NOTHING, Sessions, open_forum, open_proposal, written

from services_dev.testing.tokens import TestTokens

PROBLEM = "application/problem+json"
TWO_MB = 2 * 1024 * 1024


def _assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://")
    return body


@pytest.fixture
async def targets(sessions: Sessions) -> dict[str, uuid.UUID]:
    """An open proposal and an open forum: a valid request would write."""
    return {"proposal": await open_proposal(sessions), "forum": await open_forum(sessions)}


def _casts(targets: dict[str, uuid.UUID]) -> list[tuple[str, dict[str, Any]]]:
    """The two casting endpoints with a body that would be accepted."""
    return [
        ("/v1/votes/agreements", {"proposal_id": str(targets["proposal"])}),
        (f"/v1/votes/forums/{targets['forum']}/ballots", {"choice": "찬성"}),
    ]


def _forged_tokens(tokens: TestTokens, citizen: uuid.UUID) -> dict[str, str]:
    genuine = tokens.issue(citizen)
    header, payload, signature = genuine.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = ["citizen", "admin"]
    tampered = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    other_key = TestTokens()
    other_key.kid = tokens.kid  # same kid, someone else's key
    unsigned = (
        ".".join(
            base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
            for part in ({"alg": "none", "kid": tokens.kid}, {**claims, "roles": ["citizen"]})
        )
        + "."
    )
    hs256 = jwt.encode(
        {"sub": str(citizen), "roles": ["citizen"], "typ": "access"},
        key="a-shared-secret-of-32-bytes-long!",
        algorithm="HS256",
        headers={"kid": tokens.kid},
    )
    return {
        "tampered claims": f"{header}.{tampered}.{signature}",
        "other key, same kid": other_key.issue(citizen),
        "unknown kid": TestTokens().issue(citizen),
        "alg none": unsigned,
        "alg HS256": hs256,
        "expired": tokens.issue(citizen, ttl=-timedelta(minutes=5)),
        "garbage": "not.a.jwt",
    }


async def test_casting_without_a_valid_token_is_401(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions, targets: dict[str, uuid.UUID]
) -> None:
    citizen = uuid.uuid4()
    for path, body in _casts(targets):
        response = await client.post(path, json=body)
        _assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
        basic = await client.post(path, json=body, headers={"Authorization": "Basic dTpw"})
        _assert_problem(basic, 401)
        for name, token in _forged_tokens(tokens, citizen).items():
            forged = await client.post(
                path, json=body, headers={"Authorization": f"Bearer {token}"}
            )
            assert forged.status_code == 401, (path, name, forged.text)
            _assert_problem(forged, 401)
    assert await written(sessions) == NOTHING


async def test_reading_a_vote_without_a_valid_token_is_401(
    client: httpx.AsyncClient, tokens: TestTokens
) -> None:
    path = f"/v1/votes/{uuid.uuid4()}"
    _assert_problem(await client.get(path), 401)
    for token in _forged_tokens(tokens, uuid.uuid4()).values():
        _assert_problem(await client.get(path, headers={"Authorization": f"Bearer {token}"}), 401)


@pytest.mark.parametrize("roles", [["department"], ["mayor_office", "committee"], ["admin"]])
async def test_tokens_without_the_citizen_role_are_403(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    sessions: Sessions,
    targets: dict[str, uuid.UUID],
    roles: list[str],
) -> None:
    headers = tokens.headers(uuid.uuid4(), roles=roles, department="교통실")
    for path, body in _casts(targets):
        refused = _assert_problem(await client.post(path, json=body, headers=headers), 403)
        assert refused["required_roles"] == ["citizen"]
    _assert_problem(await client.get(f"/v1/votes/{uuid.uuid4()}", headers=headers), 403)
    assert await written(sessions) == NOTHING


async def test_unknown_ids_are_404(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions, targets: dict[str, uuid.UUID]
) -> None:
    headers = tokens.headers(uuid.uuid4())
    unknown = uuid.uuid4()
    for method, path, body in [
        ("POST", "/v1/votes/agreements", {"proposal_id": str(unknown)}),
        ("POST", f"/v1/votes/forums/{unknown}/ballots", {"choice": "찬성"}),
        ("GET", f"/v1/votes/{unknown}", None),
        ("GET", f"/v1/votes/tallies/proposals/{unknown}", None),
        ("GET", f"/v1/votes/tallies/forums/{unknown}", None),
        # A forum is not a proposal and a proposal not a forum.
        ("POST", "/v1/votes/agreements", {"proposal_id": str(targets["forum"])}),
        ("GET", f"/v1/votes/tallies/proposals/{targets['forum']}", None),
        ("GET", f"/v1/votes/tallies/forums/{targets['proposal']}", None),
        ("GET", "/v1/votes/tallies/elections/x", None),
    ]:
        response = await client.request(method, path, json=body, headers=headers)
        _assert_problem(response, 404)
    assert await written(sessions) == NOTHING


async def test_malformed_json_is_400(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions, targets: dict[str, uuid.UUID]
) -> None:
    headers = {**tokens.headers(uuid.uuid4()), "Content-Type": "application/json"}
    for path, _ in _casts(targets):
        for raw in [b"{", b'{"proposal_id": }', b"\xff\xfe", '{"choice": "찬성"'.encode()[:-1]]:
            response = await client.post(path, content=raw, headers=headers)
            body = _assert_problem(response, 400)
            assert body["type"].endswith("/malformed-json")
    assert await written(sessions) == NOTHING


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"proposal_id": None},
        {"proposal_id": 42},
        {"proposal_id": "not-a-uuid"},
        {"proposal_id": ["6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f"]},
        {"proposal_id": "6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f", "citizen_id": "someone-else"},
        [],
        "proposal",
        17,
    ],
)
async def test_mistyped_agreements_are_422(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    sessions: Sessions,
    targets: dict[str, uuid.UUID],
    body: Any,
) -> None:
    response = await client.post(
        "/v1/votes/agreements", json=body, headers=tokens.headers(uuid.uuid4())
    )
    assert _assert_problem(response, 422)["type"].endswith("/validation-error")
    assert await written(sessions) == NOTHING


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"choice": None},
        {"choice": 1},
        {"choice": ["찬성"]},
        {"choice": ""},
        {"choice": "찬" * 101},
        {"choice": "찬성\u0007"},
        {"choice": "찬성", "weight": 2},
        [],
    ],
)
async def test_mistyped_ballots_are_422(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    sessions: Sessions,
    targets: dict[str, uuid.UUID],
    body: Any,
) -> None:
    response = await client.post(
        f"/v1/votes/forums/{targets['forum']}/ballots",
        json=body,
        headers=tokens.headers(uuid.uuid4()),
    )
    _assert_problem(response, 422)
    assert await written(sessions) == NOTHING


async def test_malformed_path_ids_are_422(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    headers = tokens.headers(uuid.uuid4())
    for method, path, body in [
        ("POST", "/v1/votes/forums/not-a-uuid/ballots", {"choice": "찬성"}),
        ("GET", "/v1/votes/not-a-uuid", None),
        ("GET", "/v1/votes/tallies/proposals/not-a-uuid", None),
        ("GET", "/v1/votes/tallies/forums/12345", None),
    ]:
        _assert_problem(await client.request(method, path, json=body, headers=headers), 422)
    assert await written(sessions) == NOTHING


async def test_oversized_bodies_are_413(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions, targets: dict[str, uuid.UUID]
) -> None:
    headers = {**tokens.headers(uuid.uuid4()), "Content-Type": "application/json"}
    for path, body in _casts(targets):
        padded = json.dumps({**body, "padding": "x" * TWO_MB}).encode()
        declared = await client.post(path, content=padded, headers=headers)
        assert _assert_problem(declared, 413)["type"].endswith("/payload-too-large")

        async def chunks(data: bytes = padded) -> AsyncIterator[bytes]:
            for start in range(0, len(data), 64 * 1024):
                yield data[start : start + 64 * 1024]

        # Streamed without a Content-Length: the limit holds while reading.
        streamed = await client.post(path, content=chunks(), headers=headers)
        _assert_problem(streamed, 413)
    assert await written(sessions) == NOTHING


async def test_wrong_methods_are_405(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("DELETE", "/v1/votes/agreements"),
        ("PUT", f"/v1/votes/tallies/proposals/{uuid.uuid4()}"),
        ("PATCH", f"/v1/votes/{uuid.uuid4()}"),
    ]:
        _assert_problem(await client.request(method, path), 405)
