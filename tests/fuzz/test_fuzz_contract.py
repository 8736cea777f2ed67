"""Fuzzing from the contract: schemathesis generates requests from each service's committed
OpenAPI document (docs/openapi/*.json), valid and invalid ones, and sends them to the service
running in this process (real PostgreSQL and NATS, real tokens from identity-svc's sandbox), as a
citizen and as a staff member. Every answer must be no 5xx, a problem+json for every 4xx, and
conform to the document (status code declared, content type, body schema).

Bounded so that ``make test`` stays fast: ``FUZZ_MAX_EXAMPLES`` cases per operation and token
(default 3; ``make fuzz`` raises it to 50 and explores fresh cases). Failures are
real findings: fix the service and add a regression test in its own suite (docs/testing.md
"Contract fuzzing").
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fuzz_platform import ROOT, Platform, running_platform
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services_dev.localrt.postgres import EmbeddedPostgres

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "3"))
PROBLEM = "application/problem+json"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
    phases=[Phase.explicit, Phase.generate, Phase.target],
    suppress_health_check=list(HealthCheck),
)


def _schema(service: str) -> Any:
    return schemathesis.openapi.from_path(ROOT / "docs" / "openapi" / f"{service}-svc.json")


@pytest.fixture(scope="module")
def platform(pg_server: EmbeddedPostgres, nats_server: Any) -> Iterator[Platform]:
    """The five services, served in this process for the whole module."""
    with running_platform(pg_server, nats_server.url) as served:
        yield served


@pytest.fixture(params=["citizen", "staff"])
def who(request: pytest.FixtureRequest) -> str:
    role: str = request.param
    return role


def _check(case: Any, platform: Platform, service: str, who: str) -> None:
    headers = {"Authorization": f"Bearer {platform.tokens[who]}"}
    response = case.call(base_url=platform.url(service), headers=headers, timeout=60)
    case.validate_response(response, checks=CHECKS, headers=headers)
    if 400 <= response.status_code < 500:
        content_type = response.headers.get("content-type", [""])[0]
        assert content_type.startswith(PROBLEM), (
            f"{case.method} {case.formatted_path} answered {response.status_code} as "
            f"{content_type!r}, not problem+json: {response.text[:300]}"
        )


identity = _schema("identity")
proposal = _schema("proposal")
vote = _schema("vote")
ledger = _schema("ledger")
notify = _schema("notify")


@identity.parametrize()  # type: ignore[untyped-decorator]
@FUZZ_SETTINGS
def test_identity_svc(case: Any, platform: Platform, who: str) -> None:
    _check(case, platform, "identity", who)


@proposal.parametrize()  # type: ignore[untyped-decorator]
@FUZZ_SETTINGS
def test_proposal_svc(case: Any, platform: Platform, who: str) -> None:
    _check(case, platform, "proposal", who)


@vote.parametrize()  # type: ignore[untyped-decorator]
@FUZZ_SETTINGS
def test_vote_svc(case: Any, platform: Platform, who: str) -> None:
    _check(case, platform, "vote", who)


@ledger.parametrize()  # type: ignore[untyped-decorator]
@FUZZ_SETTINGS
def test_ledger_svc(case: Any, platform: Platform, who: str) -> None:
    _check(case, platform, "ledger", who)


@notify.parametrize()  # type: ignore[untyped-decorator]
@FUZZ_SETTINGS
def test_notify_svc(case: Any, platform: Platform, who: str) -> None:
    _check(case, platform, "notify", who)
