"""vote-svc routes: parse, call the use case, shape the response."""

from __future__ import annotations

import base64
import uuid
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Query, Response

from services.auth import Principal
from services.canonical import TargetType
from services.client import ClientDep, ClientInfo
from services.kanon import Suppressed
from services.problems import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE, problem_responses
from services.ratelimit import rate_limited_example
from vote_svc import hot_path
from vote_svc.config import DEFAULT_CITIZEN_LIMITS
from vote_svc.deps import BallotBoxDep, CurrentCitizen, EligibleVoter, SessionDep
from vote_svc.integrity.limits import CAST_BUCKET, Caster
from vote_svc.schemas import (
    AgreementCreate,
    AgreementPublic,
    AgreementStatistics,
    BallotCreate,
    BallotPublic,
    Cell,
    ForumTally,
    FullReceipt,
    HourPublic,
    MyVotePage,
    MyVotePublic,
    ProposalTally,
    Receipt,
    SigningHistory,
    TargetRecord,
    TargetRecords,
    VotePublic,
    agreement_json,
)
from vote_svc.service import ballots, mine, receipts, records, statistics, tallies
from vote_svc.service.receipts import CastVote

router = APIRouter(prefix="/v1/votes")


def _with_example(
    responses: dict[int | str, dict[str, Any]], status: int, example: dict[str, Any]
) -> dict[int | str, dict[str, Any]]:
    """Show a problem's example (with its extension members) in the OpenAPI document."""
    responses[status]["content"][PROBLEM_MEDIA_TYPE]["example"] = example
    return responses


def _already_voted_example(target: str) -> dict[str, Any]:
    target_id = (
        "6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f"
        if target == "proposal"
        else "2c9d4e5f-1a2b-4c3d-8e4f-5a6b7c8d9e0f"
    )
    return {
        "type": PROBLEM_TYPE_BASE + "already-voted",
        "title": "Already voted",
        "status": 409,
        "detail": f"this citizen already voted on this {target}; the first vote stands",
        "instance": (
            "/v1/votes/agreements"
            if target == "proposal"
            else f"/v1/votes/forums/{target_id}/ballots"
        ),
        "request_id": "3f7c1d0e-8a51-4a0e-9a1b-0d7f2b1c9e11",
        "vote_id": "11111111-2222-4333-8444-555555555555",
        f"{target}_id": target_id,
        "choice": "agree" if target == "proposal" else "찬성",
        "cast_at": "2026-11-24T12:00:00.123456Z",
        "receipt": {
            "record_hash": "7f10aa42510bfd4a676159bd0683c51180e26e45a88c463a0053ca5c10cf7de8",
            "voter_tag": "328425d282733a9dfe874ddca11949b52f40e56295bc9787b138e4f352b7703f",
        },
    }


def _caster(citizen: Principal, client: ClientInfo) -> Caster:
    return Caster(client=client, account_since=citizen.account_since, age=citizen.age)


#: The 201 of a cast, with its ``Location`` header, in the OpenAPI document.
_CREATED: dict[int | str, dict[str, Any]] = {
    201: {
        "description": "Created",
        "headers": {
            "Location": {
                "description": "Where the vote is read: `/v1/votes/{vote_id}`",
                "schema": {"type": "string"},
            }
        },
    }
}


def _receipt(vote: CastVote) -> Receipt:
    return Receipt(record_hash=vote.record_hash, voter_tag=vote.voter_tag)


@router.post(
    "/agreements",
    status_code=201,
    response_model=AgreementPublic,
    tags=["votes"],
    summary="Agree with a proposal (one agreement per citizen)",
    description=(
        "Records the signed-in citizen's agreement (공감) with an open proposal and answers with "
        "a receipt: the SHA-256 of the canonical record the ledger will hold and the citizen's "
        "voter tag on this proposal. A second agreement by the same citizen, however concurrent, "
        "answers 409 `already-voted` with the first `vote_id` and its receipt (so a client that "
        "retries after a lost answer ends with one vote; `Idempotency-Key` is not needed and "
        "ignored). A proposal created a moment ago is accepted even before vote-svc heard of it "
        "(it asks proposal-svc; 503 `proposal-lookup-failed` when it cannot). A proposal nobody "
        "knows answers 404 `proposal-not-found`, one that does not accept agreements 409 "
        "`proposal-closed` (the `target_status` member says whether it was closed, withdrawn, hidden, "
        "...), a suspended citizen 403 `citizen-suspended`, one the platform's eligibility rules "
        "do not let vote 403 `ineligible-age`, `ineligible-foreigner` or `ineligible-residency` "
        "(docs/identity.md). Past the per-citizen or per-network rate limits: 429 "
        "`rate-limited` with `Retry-After` (docs/abuse-limits.md)."
    ),
    responses={
        **_CREATED,
        **_with_example(
            _with_example(
                problem_responses(400, 401, 403, 404, 409, 413, 422, 429, 503),
                409,
                _already_voted_example("proposal"),
            ),
            429,
            rate_limited_example(
                CAST_BUCKET, DEFAULT_CITIZEN_LIMITS[0], "/v1/votes/agreements", retry_after=17
            ),
        ),
    },
)
async def agree(
    body: AgreementCreate, citizen: EligibleVoter, box: BallotBoxDep, client: ClientDep
) -> Response:
    # The hot path: no session, and the 201 is written directly rather than through the
    # response model (which still documents it).
    vote = await hot_path.cast_agreement(
        box,
        citizen.citizen_id,
        proposal_id=body.proposal_id,
        caster=_caster(citizen, client),
        facts=hot_path.VoterFacts.of(citizen),
    )
    return Response(
        agreement_json(
            vote_id=vote.id,
            proposal_id=vote.target_id,
            cast_at=vote.cast_at,
            record_hash=vote.record_hash,
            voter_tag=vote.voter_tag,
        ),
        status_code=201,
        media_type="application/json",
        headers={"Location": f"/v1/votes/{vote.id}"},
    )


@router.post(
    "/forums/{forum_id}/ballots",
    status_code=201,
    tags=["votes"],
    summary="Vote in a forum (one ballot per citizen)",
    description=(
        "Records the signed-in citizen's ballot for one of the forum's `options` while the "
        "forum is open (from `opens_at` until `closes_at`). A second ballot answers 409 "
        "`already-voted` with the first one; a choice that is not an option 422 "
        "`invalid-choice`; a forum not open yet 409 `forum-not-open`, a closed one 409 "
        "`forum-closed`; a forum vote-svc has not heard of yet is asked of proposal-svc (503 "
        "`forum-lookup-failed` when it cannot be), one nobody knows is 404 `forum-not-found`; "
        "a citizen the platform's "
        "eligibility rules do not let vote 403 `ineligible-age`, `ineligible-foreigner` or "
        "`ineligible-residency` (docs/identity.md). Past the rate limits: 429 `rate-limited` "
        "with `Retry-After` (docs/abuse-limits.md)."
    ),
    responses={
        **_CREATED,
        **_with_example(
            problem_responses(400, 401, 403, 404, 409, 413, 422, 429, 503),
            409,
            _already_voted_example("forum"),
        ),
    },
)
async def vote_in_forum(
    forum_id: uuid.UUID,
    body: BallotCreate,
    citizen: EligibleVoter,
    box: BallotBoxDep,
    client: ClientDep,
    response: Response,
) -> BallotPublic:
    vote = await ballots.cast_ballot(
        box,
        citizen.citizen_id,
        forum_id=forum_id,
        choice=body.choice,
        caster=_caster(citizen, client),
        facts=hot_path.VoterFacts.of(citizen),
    )
    response.headers["Location"] = f"/v1/votes/{vote.id}"
    return BallotPublic(
        vote_id=vote.id,
        forum_id=vote.target_id,
        choice=vote.choice,
        cast_at=vote.cast_at,
        receipt=_receipt(vote),
    )


@router.get(
    "/tallies/proposals/{proposal_id}",
    tags=["tallies"],
    summary="How many citizens agreed with a proposal",
    responses=problem_responses(404, 422),
)
async def proposal_tally(proposal_id: uuid.UUID, session: SessionDep) -> ProposalTally:
    agreements = await tallies.proposal_agreements(session, proposal_id)
    return ProposalTally(proposal_id=proposal_id, agreements=agreements)


@router.get(
    "/tallies/proposals/{proposal_id}/history",
    tags=["tallies"],
    summary="A proposal's signing rate: agreements per hour",
    description=(
        "Every UTC hour from the first agreement's to the last's (empty hours as 0) with the "
        "running total. An unknown proposal answers 404 `proposal-not-found`."
    ),
    responses=problem_responses(404, 422),
)
async def proposal_history(proposal_id: uuid.UUID, session: SessionDep) -> SigningHistory:
    history = await statistics.signing_history(session, proposal_id)
    return SigningHistory(
        proposal_id=proposal_id,
        items=[HourPublic(hour=h.hour, agreements=h.agreements, total=h.total) for h in history],
    )


def _cells(published: Suppressed) -> list[Cell]:
    return [
        Cell(key=key, count=count, suppressed=count is None)
        for key, count in published.cells.items()
    ]


@router.get(
    "/statistics/proposals/{proposal_id}",
    tags=["statistics"],
    summary="Who agreed with a proposal, by age band and residency (k-anonymous)",
    description=(
        "Counts of the citizens who agreed, by the age band and the residency category their "
        "access token carried when they agreed (`unknown`: it carried none). A cell of fewer "
        "than k = 10 people is suppressed (`count` null, `suppressed` true), and when exactly "
        "one cell of a breakdown would be, the next smallest is too, so that no cell can be "
        "derived from the total (docs/statistics.md). Voters' districts are not known to the "
        "platform. An unknown proposal answers 404 `proposal-not-found`."
    ),
    responses=problem_responses(404, 422),
)
async def proposal_statistics(proposal_id: uuid.UUID, session: SessionDep) -> AgreementStatistics:
    found = await statistics.agreement_breakdowns(session, proposal_id)
    return AgreementStatistics(
        proposal_id=proposal_id,
        agreements=found.agreements,
        k=found.k,
        by_age_band=_cells(found.by_age_band),
        by_residency=_cells(found.by_residency),
    )


@router.get(
    "/tallies/forums/{forum_id}",
    tags=["tallies"],
    summary="A forum's participants and the count per option",
    responses=problem_responses(404, 422),
)
async def forum_tally(forum_id: uuid.UUID, session: SessionDep) -> ForumTally:
    participants, by_choice = await tallies.forum_tally(session, forum_id)
    return ForumTally(forum_id=forum_id, participants=participants, by_choice=by_choice)


@router.get(
    "/records/{target_type}/{target_id}",
    tags=["tallies"],
    summary="Every vote of a target as the ledger knows it (public recount)",
    description=(
        "The vote rows themselves (vote id, voter tag, record hash; never a citizen id) and the "
        "running tally. ledger-svc's audit compares them with the ledger: a deleted, altered or "
        "inserted row shows up as a difference."
    ),
    responses=problem_responses(404, 422),
)
async def target_records(
    target_type: Literal["proposal", "forum"], target_id: uuid.UUID, session: SessionDep
) -> TargetRecords:
    tally, rows = await records.target_records(session, target_type, target_id)
    return TargetRecords(
        target_type=target_type,
        target_id=target_id,
        tally=tally,
        rows=len(rows),
        records=[
            TargetRecord(vote_id=v, voter_tag=t, record_hash=h, cast_at=c) for v, t, h, c in rows
        ],
    )


@router.get(
    "/mine",
    tags=["votes"],
    summary="My agreements and forum ballots, newest first",
    description=(
        "The signed-in citizen's votes, newest first, each with its receipt and ledger status: "
        "`recorded` once ledger-svc announced the batch that holds it (`ledger.batch_committed`), "
        "`pending` before. `target_type` and `target_id` narrow it; with `target_id` it answers "
        '"did I agree with (or vote in) this?" without casting: one item, or none. '
        "Keyset-paginated (`cursor` = the previous page's `next_cursor`, 400 `invalid-cursor`)."
    ),
    responses=problem_responses(400, 401, 403, 422),
)
async def my_votes(
    citizen: CurrentCitizen,
    session: SessionDep,
    target_type: Annotated[Literal["proposal", "forum"] | None, Query()] = None,
    target_id: Annotated[uuid.UUID | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> MyVotePage:
    page, next_cursor = await mine.my_votes(
        session,
        citizen.citizen_id,
        target_type=target_type,
        target_id=target_id,
        cursor=cursor,
        limit=limit,
    )
    return MyVotePage(
        items=[
            MyVotePublic(
                vote_id=m.vote.id,
                target_type=cast(TargetType, m.vote.target_type),
                target_id=m.vote.target_id,
                choice=m.vote.choice,
                cast_at=m.vote.cast_at,
                receipt=Receipt(record_hash=m.vote.record_hash, voter_tag=m.vote.voter_tag),
                ledger_status="recorded" if m.batch_seq is not None else "pending",
                ledger_batch=m.batch_seq,
                recorded_at=m.recorded_at,
                ledger_receipt=f"/v1/ledger/receipts/{m.vote.id}",
            )
            for m in page
        ],
        next_cursor=next_cursor,
    )


@router.get(
    "/{vote_id}",
    tags=["votes"],
    summary="One of my votes, with its full receipt",
    description=(
        "Only the voter sees a vote: anyone else gets the same 404 as for an unknown id, so "
        "vote ids cannot be probed. `receipt.record` is the canonical record (base64) whose "
        "SHA-256 is `receipt.record_hash`; `ledger_receipt` is where its inclusion proof is "
        "served once the ledger recorded it."
    ),
    responses=problem_responses(401, 403, 404, 422),
)
async def get_vote(vote_id: uuid.UUID, citizen: CurrentCitizen, session: SessionDep) -> VotePublic:
    vote = await receipts.own_vote(session, citizen.citizen_id, vote_id)
    return VotePublic(
        vote_id=vote.id,
        target_type=cast(TargetType, vote.target_type),  # a CHECK constraint holds it
        target_id=vote.target_id,
        choice=vote.choice,
        cast_at=vote.cast_at,
        receipt=FullReceipt(
            record_hash=vote.record_hash,
            voter_tag=vote.voter_tag,
            record=base64.b64encode(vote.record).decode(),
        ),
        ledger_receipt=f"/v1/ledger/receipts/{vote.id}",
    )
