"""The platform's eligibility rules on posting: a comment, a reply or a forum opinion from a
citizen the rules for ``comment`` refuse is a 403 problem and writes nothing; liking, reporting,
editing and deleting one's own post need a verified citizen only."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from deliberation_helpers import Deliberation, counts
from proposal_helpers import proposal_app

from proposal_svc.bootstrap import bootstrap
from proposal_svc.config import ProposalSettings
from services.clock import ManualClock
from services.eligibility import EligibilityPolicy
from services_dev.testing import running_app
from services_dev.testing.tokens import TestTokens


@pytest.fixture
async def strict(
    proposal_settings: ProposalSettings, clock: ManualClock, tokens: TestTokens
) -> AsyncIterator[httpx.AsyncClient]:
    """proposal-svc where commenting needs 14 years."""
    policy = EligibilityPolicy.model_validate({"actions": {"comment": {"min_age": 14}}})
    settings = proposal_settings.model_copy(update={"eligibility": policy})

    async with running_app(proposal_app(bootstrap(settings, clock=clock), tokens)) as c:
        yield c


def _aged(tokens: TestTokens, age: int, citizen: uuid.UUID | None = None) -> dict[str, str]:
    token = tokens.issue(citizen or uuid.uuid4(), claims={"age": age})
    return {"Authorization": f"Bearer {token}"}


async def test_a_citizen_under_the_age_cannot_post_and_nothing_is_written(
    strict: httpx.AsyncClient,
    tokens: TestTokens,
    clock: ManualClock,
    proposal_settings: ProposalSettings,
) -> None:
    d = Deliberation(strict, tokens)
    pid, fid = await d.proposal(), await d.forum(clock)
    adult = await d.comment(pid, headers=_aged(tokens, 30))
    child = _aged(tokens, 12)
    before = await counts(proposal_settings)
    for path, body in [
        (f"/v1/proposals/{pid}/comments", {"body": "저도 의견 있어요"}),
        (f"/v1/proposals/{pid}/comments", {"body": "답글", "parent_id": adult["id"]}),
        (f"/v1/forums/{fid}/opinions", {"stance": "pro", "body": "찬성"}),
    ]:
        refused = await strict.post(path, json=body, headers=child)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"].endswith("/ineligible-age")
        assert (refused.json()["action"], refused.json()["min_age"]) == ("comment", 14)
    assert await counts(proposal_settings) == before
    # Reacting is not posting: the same citizen likes and reports.
    liked = await strict.put(f"/v1/comments/{adult['id']}/like", headers=child)
    assert liked.status_code == 200, liked.text
    assert (await d.report(adult["id"], headers=child)).status_code == 201
    assert (await d.opinion(fid, "con", _aged(tokens, 14)))["status"] == "published"


async def test_editing_and_deleting_ones_own_post_needs_no_check(
    strict: httpx.AsyncClient, tokens: TestTokens
) -> None:
    d = Deliberation(strict, tokens)
    author = uuid.uuid4()
    comment = await d.comment(await d.proposal(), headers=_aged(tokens, 20, author))
    # The rules tightened (or the token lacks the claim): the author still manages their post.
    plain = d.citizen(author)
    path = f"/v1/comments/{comment['id']}"
    assert (await strict.patch(path, json={"body": "고쳤어요"}, headers=plain)).status_code == 200
    assert (await strict.delete(path, headers=plain)).status_code == 200
