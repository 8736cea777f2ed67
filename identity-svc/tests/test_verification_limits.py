"""Verification starts are rate-limited per client network: the N+1th start in the window is
429 problem+json with Retry-After and opens no attempt; another network is not affected."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from identity_helpers import count

from identity_svc.bootstrap import bootstrap
from identity_svc.config import IdentitySettings
from identity_svc.main import create_app
from services.ratelimit import RateRule
from services_dev.testing import running_app


@pytest.fixture
async def limited(identity_settings: IdentitySettings) -> AsyncIterator[httpx.AsyncClient]:
    settings = identity_settings.model_copy(
        update={"verification_rate_limits": [RateRule(limit=3, seconds=600)]}
    )
    async with running_app(create_app(bootstrap(settings))) as client:
        yield client


async def _start(client: httpx.AsyncClient, address: str) -> httpx.Response:
    # The in-process peer is 127.0.0.1, a trusted proxy, so X-Forwarded-For is believed.
    return await client.post(
        "/v1/identity/verifications",
        json={"provider": "sandbox"},
        headers={"X-Forwarded-For": address},
    )


async def test_the_fourth_start_from_one_network_is_refused_and_opens_nothing(
    limited: httpx.AsyncClient, identity_settings: IdentitySettings
) -> None:
    for host in (1, 2, 3):
        response = await _start(limited, f"203.0.113.{host}")
        assert response.status_code == 201, response.text
    refused = await _start(limited, "203.0.113.99")
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["type"].endswith("/rate-limited")
    assert (body["bucket"], body["limit"], body["window_seconds"]) == (
        "identity.verification.start",
        3,
        600,
    )
    assert 0 < int(refused.headers["retry-after"]) <= 600
    assert await count(identity_settings, "verifications") == 3
    # Another network (IPv6 /48 here) is counted apart.
    other = await _start(limited, "2001:db8:1::5")
    assert other.status_code == 201, other.text
    assert await count(identity_settings, "verifications") == 4


async def test_a_refused_provider_or_an_unknown_one_is_not_counted(
    limited: httpx.AsyncClient,
) -> None:
    # An unknown provider is refused before the limit is counted.
    for _ in range(5):
        response = await limited.post(
            "/v1/identity/verifications",
            json={"provider": "no-such-provider"},
            headers={"X-Forwarded-For": "198.51.100.4"},
        )
        assert response.status_code in (404, 422), response.text
    assert (await _start(limited, "198.51.100.4")).status_code == 201
