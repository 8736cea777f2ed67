"""proposal-svc routes: parse, call the use case, shape the response."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from proposal_svc import service, similarity
from proposal_svc.bootstrap import ProposalContext
from proposal_svc.deps import (
    CtxDep,
    CurrentAdmin,
    CurrentAnswerer,
    CurrentCitizen,
    CurrentCommittee,
    CurrentForumStaff,
    EligibleProposer,
    OptionalCaller,
    SessionDep,
)
from proposal_svc.models import Forum, Proposal
from proposal_svc.reference.data import district_code
from proposal_svc.repository import ProposalFilter
from proposal_svc.schemas import (
    AdoptionCreate,
    AdoptionPublic,
    AnswerCreate,
    AnswerPublic,
    ForumCreate,
    ForumPage,
    ForumPublic,
    ModerationCreate,
    ObligationPublic,
    ProposalCreate,
    ProposalPage,
    ProposalPublic,
    ProposalSummary,
    SimilarPage,
    SimilarPublic,
    TierReached,
    Timeline,
    TimelinePublicEntry,
)
from proposal_svc.service.proposals import ProposalDetail
from services.auth import InvalidToken, Principal
from services.client import ClientDep
from services.problems import problem_responses

proposals = APIRouter(prefix="/v1/proposals", tags=["proposals"])


def _created(location: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI entry of a 201 with its ``Location`` header."""
    return {
        201: {
            "description": "Created",
            "headers": {
                "Location": {
                    "description": f"Where the resource is read: `{location}`",
                    "schema": {"type": "string"},
                }
            },
        }
    }


forums = APIRouter(prefix="/v1/forums", tags=["forums"])


def _public(detail: ProposalDetail, ctx: ProposalContext) -> ProposalPublic:
    p = detail.proposal
    now = ctx.clock.now()
    hidden = p.status == "hidden"
    return ProposalPublic(
        id=p.id,
        title=p.title if not hidden else "(숨김 처리된 제안)",
        body=p.body if not hidden else f"운영 원칙에 따라 숨김 처리되었습니다: {p.hidden_reason}",
        category=p.category,
        district=p.district,
        district_code=district_code(p.district),
        status=p.status,
        agreement_count=p.agreement_count,
        created_at=p.created_at,
        opened_at=p.opened_at,
        closes_at=p.closes_at,
        tiers_reached=[
            TierReached(tier=t.tier, threshold=t.threshold, reached_at=t.reached_at)
            for t in detail.tiers
        ],
        obligations=[
            ObligationPublic(
                kind=o.kind,
                due_at=o.due_at,
                fulfilled_at=o.fulfilled_at,
                overdue=o.fulfilled_at is None and o.due_at <= now,
            )
            for o in detail.obligations
        ],
        forum_id=detail.forum_id,
        adoption=(
            AdoptionPublic(
                decision=detail.adoption.decision,
                reason=detail.adoption.reason,
                rationale=detail.adoption.rationale,
                grouped_proposal_ids=list(detail.adoption.grouped_proposal_ids),
                decided_at=detail.adoption.decided_at,
            )
            if detail.adoption
            else None
        ),
        answers=[
            AnswerPublic(
                id=a.id, kind=a.kind, body=a.body, department=a.department, created_at=a.created_at
            )
            for a in detail.answers
        ],
        similar=[SimilarPublic(**s) for s in detail.similar],
    )


def _summary(p: Proposal) -> ProposalSummary:
    return ProposalSummary(
        id=p.id,
        title=p.title if p.status != "hidden" else "(숨김 처리된 제안)",
        category=p.category,
        district=p.district,
        district_code=district_code(p.district),
        status=p.status,
        agreement_count=p.agreement_count,
        created_at=p.created_at,
        closes_at=p.closes_at,
    )


def _forum(f: Forum) -> ForumPublic:
    return ForumPublic(
        id=f.id,
        proposal_id=f.proposal_id,
        title=f.title,
        description=f.description,
        mode=f.mode,
        opens_at=f.opens_at,
        closes_at=f.closes_at,
        participant_count=f.participant_count,
        options=list(f.options),
        status=f.status,
        kind="monthly" if f.proposal_id is None else "proposal",
    )


@proposals.post(
    "",
    status_code=201,
    summary="Submit a proposal (verified citizens)",
    description=(
        "Text is NFC-normalised. The answer lists similar existing proposals found on Korean "
        "text. A citizen the platform's eligibility rules do not let propose answers 403 "
        "`ineligible-age`, `ineligible-foreigner` or `ineligible-residency` (docs/identity.md). "
        "Submissions are rate-limited per citizen and per client network: past a limit, 429 "
        "`rate-limited` with `Retry-After` and nothing written (docs/abuse-limits.md)."
    ),
    responses={**_created("/v1/proposals/{id}"), **problem_responses(400, 401, 403, 413, 422, 429)},
)
async def create_proposal(
    body: ProposalCreate,
    citizen: EligibleProposer,
    session: SessionDep,
    ctx: CtxDep,
    client: ClientDep,
    response: Response,
) -> ProposalPublic:
    detail = await service.proposals.submit(session, ctx, citizen, body, network=client.network)
    created = _public(detail, ctx)
    response.headers["Location"] = f"/v1/proposals/{created.id}"
    return created


def _me(value: Literal["me"] | None, caller: Principal | None, name: str) -> uuid.UUID | None:
    """The caller's id for ``<name>=me`` (401 without a token), None without the filter."""
    if value is None:
        return None
    if caller is None:
        raise InvalidToken(f"{name}=me needs a signed-in citizen")
    return caller.citizen_id


@proposals.get(
    "",
    summary="List proposals",
    description=(
        "Newest first (or by agreements), keyset-paginated, with `total` over all pages. "
        "`author=me` lists my own proposals and `followed=me` those I follow (both 401 "
        "without a token); `district` is a code or Korean name of `GET /v1/proposals/districts`."
    ),
    responses=problem_responses(400, 401, 422),
)
async def list_proposals(
    session: SessionDep,
    caller: OptionalCaller,
    status: Annotated[
        Literal["open", "closed", "adopted", "budget_linked", "withdrawn", "hidden"] | None, Query()
    ] = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    district: Annotated[
        str | None, Query(max_length=40, description="A district's code or Korean name")
    ] = None,
    author: Annotated[Literal["me"] | None, Query(description="`me`: my proposals")] = None,
    followed: Annotated[
        Literal["me"] | None, Query(description="`me`: the proposals I follow")
    ] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Text search in title and body")
    ] = None,
    sort: Annotated[Literal["recent", "agreements"], Query()] = "recent",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ProposalPage:
    where = ProposalFilter(
        status=status,
        category=category,
        district=service.proposals.district_name(district),
        q=q,
        author_id=_me(author, caller, "author"),
        followed_by=_me(followed, caller, "followed"),
    )
    page, next_cursor, total = await service.proposals.list_proposals(
        session, where, sort=sort, cursor=cursor, limit=limit
    )
    return ProposalPage(items=[_summary(p) for p in page], next_cursor=next_cursor, total=total)


@proposals.get(
    "/similar",
    summary="Proposals similar to a text (works on Korean)",
    response_model=SimilarPage,
    responses=problem_responses(422),
)
async def similar(
    session: SessionDep,
    text: Annotated[str, Query(min_length=1, max_length=2000)],
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> SimilarPage:
    found = await similarity.find_similar(session, text, limit=limit)
    return SimilarPage(
        items=[SimilarPublic(id=s.id, title=s.title, score=s.score, status=s.status) for s in found]
    )


@proposals.get("/{proposal_id}", summary="A proposal", responses=problem_responses(404, 422))
async def get_proposal(proposal_id: uuid.UUID, session: SessionDep, ctx: CtxDep) -> ProposalPublic:
    return _public(await service.proposals.proposal_detail(session, proposal_id), ctx)


@proposals.get(
    "/{proposal_id}/timeline",
    summary="A proposal's public history",
    responses=problem_responses(404, 422),
)
async def get_timeline(proposal_id: uuid.UUID, session: SessionDep) -> Timeline:
    entries = await service.proposals.timeline(session, proposal_id)
    return Timeline(
        proposal_id=proposal_id,
        entries=[
            TimelinePublicEntry(
                seq=e.seq, kind=e.kind, at=e.at, actor_role=e.actor_role, data=e.data
            )
            for e in entries
        ],
    )


@proposals.post(
    "/{proposal_id}/withdrawal",
    summary="Withdraw a proposal (its author, before any agreement)",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def withdraw(
    proposal_id: uuid.UUID, citizen: CurrentCitizen, session: SessionDep, ctx: CtxDep
) -> ProposalPublic:
    await service.proposals.withdraw(session, ctx, citizen, proposal_id)
    return _public(await service.proposals.proposal_detail(session, proposal_id), ctx)


@proposals.post(
    "/{proposal_id}/hide",
    summary="Hide a proposal (moderator); the timeline keeps the reason",
    responses=problem_responses(400, 401, 403, 404, 413, 422),
)
async def hide(
    proposal_id: uuid.UUID,
    body: ModerationCreate,
    admin: CurrentAdmin,
    session: SessionDep,
    ctx: CtxDep,
) -> ProposalPublic:
    await service.proposals.hide(session, ctx, admin, proposal_id, body.reason)
    return _public(await service.proposals.proposal_detail(session, proposal_id), ctx)


@proposals.post(
    "/{proposal_id}/answers",
    status_code=201,
    summary="Answer a proposal (department or mayor's office); fulfils the obligation",
    responses={
        **_created("/v1/proposals/{proposal_id}"),
        **problem_responses(400, 401, 403, 404, 409, 413, 422),
    },
)
async def post_answer(
    proposal_id: uuid.UUID,
    body: AnswerCreate,
    staff: CurrentAnswerer,
    session: SessionDep,
    ctx: CtxDep,
    response: Response,
) -> ProposalPublic:
    await service.tallies.answer(session, ctx, staff, proposal_id, body.kind, body.body)
    response.headers["Location"] = f"/v1/proposals/{proposal_id}"
    return _public(await service.proposals.proposal_detail(session, proposal_id), ctx)


@proposals.post(
    "/{proposal_id}/adoption",
    status_code=201,
    summary="Committee decision: adopt (or decline) as an excellent proposal",
    responses={
        **_created("/v1/proposals/{proposal_id}"),
        **problem_responses(400, 401, 403, 404, 409, 413, 422),
    },
)
async def adoption(
    proposal_id: uuid.UUID,
    body: AdoptionCreate,
    committee: CurrentCommittee,
    session: SessionDep,
    ctx: CtxDep,
    response: Response,
) -> ProposalPublic:
    await service.adoption.decide_adoption(session, ctx, committee, proposal_id, body)
    response.headers["Location"] = f"/v1/proposals/{proposal_id}"
    return _public(await service.proposals.proposal_detail(session, proposal_id), ctx)


@forums.post(
    "",
    status_code=201,
    summary="Create a forum (staff), e.g. the monthly city forum",
    responses={
        **_created("/v1/forums/{id}"),
        **problem_responses(400, 401, 403, 404, 409, 413, 422),
    },
)
async def create_forum(
    body: ForumCreate,
    staff: CurrentForumStaff,
    session: SessionDep,
    ctx: CtxDep,
    response: Response,
) -> ForumPublic:
    forum = await service.forums.create_forum(session, ctx, staff, body)
    response.headers["Location"] = f"/v1/forums/{forum.id}"
    return _forum(forum)


@forums.get(
    "",
    summary="List forums (the monthly city forum and proposals' forums)",
    description=(
        "The latest opening first, keyset-paginated (`cursor` = the previous `next_cursor`), "
        "with `total` over all pages. `status`: `scheduled`, `open` or `closed`; `kind`: "
        "`monthly` (the city's forums without a proposal) or `proposal`."
    ),
    responses=problem_responses(400, 422),
)
async def list_forums(
    session: SessionDep,
    status: Annotated[Literal["scheduled", "open", "closed"] | None, Query()] = None,
    kind: Annotated[Literal["monthly", "proposal"] | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ForumPage:
    page, next_cursor, total = await service.forums.list_forums(
        session, status=status, kind=kind, cursor=cursor, limit=limit
    )
    return ForumPage(items=[_forum(f) for f in page], next_cursor=next_cursor, total=total)


@forums.get("/{forum_id}", summary="A forum", responses=problem_responses(404, 422))
async def get_forum(forum_id: uuid.UUID, session: SessionDep) -> ForumPublic:
    return _forum(await service.forums.get_forum(session, forum_id))


@forums.post(
    "/{forum_id}/closure",
    summary="Close a forum now (staff), e.g. when the offline session ended",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def close_forum(
    forum_id: uuid.UUID, staff: CurrentForumStaff, session: SessionDep, ctx: CtxDep
) -> ForumPublic:
    return _forum(await service.forums.close_forum_now(session, ctx, forum_id))
