"""services.live_principal: staff routes and citizens' writes act on the roles and suspension
identity-svc holds now. identity-svc is stood in for by services_dev.testing.identity, which
speaks its documented internal contract (signed requests); identity-svc's own tests check the
real endpoint."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI

from services.app import ServiceSpec, create_service_app
from services.auth import Principal
from services.config import ServiceSettings
from services.live_principal import (
    LiveCitizen,
    live_status_lifespan,
    require_live_roles,
)
from services_dev.testing import running_app
from services_dev.testing.identity import StandInIdentity
from services_dev.testing.tokens import TestTokens

router = APIRouter()


@router.post("/proposals")
async def propose(citizen: LiveCitizen) -> dict[str, Any]:
    return {"roles": sorted(citizen.roles)}


@router.post("/answers")
async def answer(
    staff: Annotated[Principal, Depends(require_live_roles("department"))],
) -> dict[str, Any]:
    return {"department": staff.department}


@pytest.fixture
def identity() -> StandInIdentity:
    return StandInIdentity(callers=("test-svc",))


@pytest.fixture
def tokens(identity: StandInIdentity) -> TestTokens:
    return TestTokens(identity=identity)


def _app(settings: ServiceSettings, tokens: TestTokens) -> FastAPI:
    return create_service_app(
        settings,
        ServiceSpec(
            title="test-svc",
            description="t",
            routers=[router],
            connect_nats=False,
            key_source=lambda _app: tokens,
            lifespan_hooks=[live_status_lifespan],
        ),
    )


@pytest.fixture
async def client(
    service_env: dict[str, str], tokens: TestTokens, identity: StandInIdentity
) -> AsyncIterator[httpx.AsyncClient]:
    settings = ServiceSettings(service_name="test-svc", database_url=service_env["database_url"])
    app = _app(settings, tokens)
    app.state.identity_status = identity.client("test-svc")
    async with running_app(app) as client:
        yield client
    await app.state.identity_status.aclose()


async def test_a_role_granted_after_the_token_was_issued_counts_at_the_next_request(
    client: httpx.AsyncClient, tokens: TestTokens, identity: StandInIdentity
) -> None:
    citizen = uuid.uuid4()
    headers = tokens.headers(citizen)  # a plain citizen's token
    refused = await client.post("/answers", headers=headers)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/forbidden")
    identity.grant(citizen, ["department"], department="교통실")
    granted = await client.post("/answers", headers=headers)
    assert granted.status_code == 200, granted.text
    assert granted.json() == {"department": "교통실"}
    assert identity.asked == [citizen] * 2


async def test_a_role_withdrawn_is_refused_although_the_token_still_carries_it(
    client: httpx.AsyncClient, tokens: TestTokens, identity: StandInIdentity
) -> None:
    citizen = uuid.uuid4()
    headers = tokens.headers(citizen, roles=["citizen", "department"], department="교통실")
    assert (await client.post("/answers", headers=headers)).status_code == 200
    identity.grant(citizen, [])
    assert (await client.post("/answers", headers=headers)).status_code == 403


async def test_a_suspended_citizen_is_refused_at_once(
    client: httpx.AsyncClient, tokens: TestTokens, identity: StandInIdentity
) -> None:
    citizen = uuid.uuid4()
    headers = tokens.headers(citizen)
    assert (await client.post("/proposals", headers=headers)).status_code == 200
    identity.suspend(citizen)
    refused = await client.post("/proposals", headers=headers)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("/citizen-suspended")


async def test_a_citizen_identity_does_not_know_is_401(
    client: httpx.AsyncClient, tokens: TestTokens, identity: StandInIdentity
) -> None:
    citizen = uuid.uuid4()
    headers = tokens.headers(citizen)
    del identity.citizens[citizen]
    response = await client.post("/proposals", headers=headers)
    assert response.status_code == 401
    assert response.json()["type"].endswith("/citizen-unknown")


async def test_without_a_valid_token_identity_is_not_even_asked(
    client: httpx.AsyncClient, identity: StandInIdentity
) -> None:
    assert (await client.post("/proposals")).status_code == 401
    assert identity.asked == []


async def test_identity_unreachable_is_503_with_retry_after_not_the_tokens_roles(
    service_env: dict[str, str], tokens: TestTokens
) -> None:
    settings = ServiceSettings(
        service_name="test-svc",
        database_url=service_env["database_url"],
        identity_url="http://127.0.0.1:9",  # nothing listens on the discard port
    )
    async with running_app(_app(settings, tokens)) as client:
        response = await client.post(
            "/answers", headers=tokens.headers(roles=["citizen", "department"])
        )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.json()["type"].endswith("/identity-unavailable")


def test_production_refuses_the_development_service_key() -> None:
    with pytest.raises(ValueError, match="must be set in production"):
        _ = ServiceSettings(service_name="proposal-svc", environment="production").service_key_bytes
    assert len(ServiceSettings(service_name="proposal-svc").service_key_bytes) == 32
