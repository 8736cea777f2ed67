"""Eligibility rules as configuration: the policy, the check against a token's claims, the
settings mixin and the route dependency."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter, Depends, FastAPI
from pydantic import ValidationError

from services.app import ServiceSpec, create_service_app
from services.auth import InvalidToken, Principal, require_roles
from services.bootstrap import ServiceContext
from services.clock import SystemClock
from services.config import ServiceSettings, service_config
from services.eligibility import (
    EligibilityPolicy,
    EligibilityRules,
    EligibilitySettings,
    check,
    require_eligible,
)
from services.problems import ProblemError
from services_dev.testing import running_app


class PollSettings(ServiceSettings, EligibilitySettings):
    """A service whose citizens' actions are held to the platform's rules."""

    model_config = service_config("POLL_")


def citizen(**claims: Any) -> Principal:
    return Principal(uuid.uuid4(), frozenset({"citizen"}), None, "jti", **claims)


def refusal(principal: Principal, policy: EligibilityPolicy, action: Any = "vote") -> str | None:
    """The problem slug ``check`` answers with, or None when the citizen may take part."""
    try:
        check(principal, action, policy)
    except ProblemError as exc:
        refused = exc
    else:
        return None
    assert refused.status == 403
    return refused.slug


def test_no_rules_refuse_nobody() -> None:
    policy = EligibilityPolicy()
    assert refusal(citizen(), policy) is None
    assert refusal(citizen(age=3, foreigner=True), policy, "propose") is None


def test_minimum_age() -> None:
    policy = EligibilityPolicy(min_age=14)
    assert refusal(citizen(age=13), policy) == "ineligible-age"
    assert refusal(citizen(age=14), policy) is None
    # No age claim: the rule cannot be shown to hold.
    assert refusal(citizen(), policy) == "ineligible-age"


def test_foreigners() -> None:
    closed = EligibilityPolicy(foreigners_allowed=False)
    assert refusal(citizen(foreigner=True), closed) == "ineligible-foreigner"
    assert refusal(citizen(), closed) == "ineligible-foreigner"
    assert refusal(citizen(foreigner=False), closed) is None
    assert refusal(citizen(foreigner=True), EligibilityPolicy()) is None


def test_residency() -> None:
    policy = EligibilityPolicy(residency_required=True)
    assert refusal(citizen(), policy) == "ineligible-residency"
    for residency in ("resident", "worker", "student"):
        assert refusal(citizen(residency=residency), policy) is None


def test_the_first_rule_that_fails_names_the_refusal() -> None:
    policy = EligibilityPolicy(min_age=14, foreigners_allowed=False, residency_required=True)
    assert refusal(citizen(age=12, foreigner=True), policy) == "ineligible-age"
    assert refusal(citizen(age=40, foreigner=True), policy) == "ineligible-foreigner"
    assert refusal(citizen(age=40, foreigner=False), policy) == "ineligible-residency"


def test_an_action_overrides_some_rules_and_inherits_the_others() -> None:
    policy = EligibilityPolicy.model_validate(
        {
            "min_age": 14,
            "foreigners_allowed": False,
            "actions": {"propose": {"min_age": 18}, "comment": {"min_age": 0}},
        }
    )
    assert policy.rules("vote") == EligibilityRules(min_age=14, foreigners_allowed=False)
    assert policy.rules("propose") == EligibilityRules(min_age=18, foreigners_allowed=False)
    assert policy.rules("comment").min_age == 0
    sixteen = citizen(age=16, foreigner=False)
    assert refusal(sixteen, policy, "vote") is None
    assert refusal(sixteen, policy, "propose") == "ineligible-age"


def test_the_refusal_says_which_rule_and_action() -> None:
    with pytest.raises(ProblemError) as refused:
        check(citizen(age=13), "vote", EligibilityPolicy(min_age=14))
    assert refused.value.extra == {"action": "vote", "min_age": 14}
    assert "at least 14" in (refused.value.detail or "")


def test_settings_read_platform_eligibility_whatever_the_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert PollSettings().eligibility == EligibilityPolicy()
    monkeypatch.setenv(
        "PLATFORM_ELIGIBILITY", '{"min_age": 14, "actions": {"propose": {"min_age": 18}}}'
    )
    settings = PollSettings()
    assert settings.eligibility.rules("vote").min_age == 14
    assert settings.eligibility.rules("propose").min_age == 18
    # In code, by the field's name.
    assert PollSettings(eligibility={"min_age": 19}).eligibility.min_age == 19


@pytest.mark.parametrize(
    "document",
    [
        '{"minimum_age": 14}',
        '{"min_age": -1}',
        '{"actions": {"shout": {"min_age": 14}}}',
        '{"actions": {"vote": {"min_age": 14, "colour": "red"}}}',
        "not json",
    ],
    ids=["unknown-rule", "negative-age", "unknown-action", "unknown-override", "not-json"],
)
def test_a_malformed_policy_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, document: str
) -> None:
    monkeypatch.setenv("PLATFORM_ELIGIBILITY", document)
    with pytest.raises((ValidationError, ValueError)):
        PollSettings()


router = APIRouter()
CitizenVoter = Annotated[Principal, Depends(require_eligible("vote", require_roles("citizen")))]


@router.post("/votes")
async def vote(principal: CitizenVoter) -> dict[str, str]:
    return {"citizen_id": str(principal.citizen_id)}


@router.post("/decisions")
async def decide(
    principal: Annotated[Principal, Depends(require_roles("committee"))],
) -> dict[str, bool]:
    return {"decided": True}


class Keys:
    """One signing key of the test's own, served as the app's key source."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())

    async def get_key(self, kid: str) -> Any:
        if kid != "k1":
            raise InvalidToken("unknown key id")
        return self.private.public_key()


def token(keys: Keys, roles: list[str] | None = None, **claims: Any) -> str:
    """An access token shaped like identity-svc's, with the eligibility ``claims`` given."""
    now = datetime.now(UTC)
    settings = ServiceSettings()
    payload = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(uuid.uuid4()),
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "jti": str(uuid.uuid4()),
        "typ": "access",
        "roles": roles or ["citizen"],
        **claims,
    }
    return jwt.encode(payload, keys.private, algorithm="ES256", headers={"kid": "k1"})


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
async def poll(service_env: dict[str, str], keys: Keys) -> AsyncIterator[httpx.AsyncClient]:
    settings = PollSettings(
        database_url=service_env["database_url"],
        nats_url=service_env["nats_url"],
        eligibility={"min_age": 14, "foreigners_allowed": False},
    )

    def source(app: FastAPI) -> Keys:
        return keys

    app = create_service_app(
        settings, ServiceSpec(title="t", description="t", routers=[router], key_source=source)
    )
    app.state.ctx = ServiceContext(settings=settings, clock=SystemClock())
    async with running_app(app) as client:
        yield client


def bearer(keys: Keys, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(keys, **claims)}"}


async def test_the_route_dependency_answers_403_problems(
    poll: httpx.AsyncClient, keys: Keys
) -> None:
    adult = await poll.post("/votes", headers=bearer(keys, age=30, foreigner=False))
    assert adult.status_code == 200, adult.text
    minor = await poll.post("/votes", headers=bearer(keys, age=13, foreigner=False))
    assert minor.status_code == 403
    assert minor.headers["content-type"] == "application/problem+json"
    assert minor.json()["type"].endswith("/ineligible-age")
    assert minor.json()["min_age"] == 14
    foreigner = await poll.post("/votes", headers=bearer(keys, age=30, foreigner=True))
    assert foreigner.json()["type"].endswith("/ineligible-foreigner")
    # The caller dependency still applies first: no token is 401, a token without the role 403.
    assert (await poll.post("/votes")).status_code == 401
    staff_only = await poll.post(
        "/votes", headers=bearer(keys, roles=["committee"], age=30, foreigner=False)
    )
    assert staff_only.json()["type"].endswith("/forbidden")


async def test_staff_routes_are_not_held_to_the_rules(poll: httpx.AsyncClient, keys: Keys) -> None:
    member = bearer(keys, roles=["citizen", "committee"], foreigner=True)
    assert (await poll.post("/decisions", headers=member)).status_code == 200
