"""The platform's eligibility rules on submitting a proposal: a refusal is a 403 problem naming
the rule, and nothing is written."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from proposal_helpers import BODY, proposal_app
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proposal_svc.bootstrap import bootstrap
from proposal_svc.config import ProposalSettings
from proposal_svc.models import Proposal
from services.clock import ManualClock
from services.eligibility import EligibilityPolicy
from services_dev.testing import running_app
from services_dev.testing.tokens import TestTokens


@pytest.fixture
async def strict(
    proposal_settings: ProposalSettings, clock: ManualClock, tokens: TestTokens
) -> AsyncIterator[httpx.AsyncClient]:
    """proposal-svc where taking part needs 14 years, and proposing 18 and a residency."""
    policy = EligibilityPolicy.model_validate(
        {"min_age": 14, "actions": {"propose": {"min_age": 18, "residency_required": True}}}
    )
    settings = proposal_settings.model_copy(update={"eligibility": policy})

    async with running_app(proposal_app(bootstrap(settings, clock=clock), tokens)) as c:
        yield c


def as_citizen(tokens: TestTokens, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(uuid.uuid4(), claims=claims)}"}


async def proposals(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return await session.scalar(select(func.count()).select_from(Proposal)) or 0


@pytest.mark.parametrize(
    ("claims", "slug"),
    [
        ({"age": 16, "residency": "resident"}, "ineligible-age"),
        ({"age": 30}, "ineligible-residency"),
    ],
    ids=["sixteen", "no-residency"],
)
async def test_an_ineligible_citizen_cannot_propose(
    strict: httpx.AsyncClient,
    tokens: TestTokens,
    sessions: async_sessionmaker[AsyncSession],
    claims: dict[str, Any],
    slug: str,
) -> None:
    refused = await strict.post("/v1/proposals", json=BODY, headers=as_citizen(tokens, **claims))
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith(f"/{slug}")
    assert refused.json()["action"] == "propose"
    assert await proposals(sessions) == 0


async def test_an_eligible_citizen_proposes(
    strict: httpx.AsyncClient, tokens: TestTokens, sessions: async_sessionmaker[AsyncSession]
) -> None:
    eligible = as_citizen(tokens, age=18, residency="student")
    created = await strict.post("/v1/proposals", json=BODY, headers=eligible)
    assert created.status_code == 201, created.text
    assert await proposals(sessions) == 1
