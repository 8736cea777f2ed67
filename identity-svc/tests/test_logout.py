"""``POST /v1/identity/sessions/logout`` revokes the refresh-token family of one sign-in."""

from __future__ import annotations

import httpx
from identity_helpers import verify

REFRESH = "/v1/identity/tokens/refresh"
LOGOUT = "/v1/identity/sessions/logout"


async def test_logout_revokes_the_family_of_the_sign_in_only(client: httpx.AsyncClient) -> None:
    done = await verify(client, "logout-1")
    other_sign_in = await verify(client, "logout-1")
    rotated = (await client.post(REFRESH, json={"refresh_token": done["refresh_token"]})).json()
    # Signing out with the first (already rotated) token of the sign-in takes the whole family.
    out = await client.post(LOGOUT, json={"refresh_token": done["refresh_token"]})
    assert out.status_code == 204, out.text
    after = await client.post(REFRESH, json={"refresh_token": rotated["refresh_token"]})
    assert after.status_code == 401
    assert after.json()["type"].endswith("/refresh-token-revoked")
    again = await client.post(LOGOUT, json={"refresh_token": rotated["refresh_token"]})
    assert again.status_code == 204
    unaffected = await client.post(REFRESH, json={"refresh_token": other_sign_in["refresh_token"]})
    assert unaffected.status_code == 200


async def test_logout_refusals(client: httpx.AsyncClient) -> None:
    unknown = await client.post(LOGOUT, json={"refresh_token": "x" * 43})
    assert unknown.status_code == 401
    assert unknown.json()["type"].endswith("/invalid-refresh-token")
    for body in ({}, {"refresh_token": "short"}, {"refresh_token": "x" * 43, "extra": 1}):
        response = await client.post(LOGOUT, json=body)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    broken = await client.post(
        LOGOUT, content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code in (400, 422)
    assert broken.headers["content-type"].startswith("application/problem+json")
