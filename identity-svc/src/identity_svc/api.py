"""identity-svc routes: parse, call the use case, shape the response."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Response
from pydantic import SecretStr

from identity_svc.deps import AdminDep, CtxDep, CurrentCitizen, KeysDep, SessionDep
from identity_svc.providers import PersonHint, StartRequest
from identity_svc.schemas import (
    JWKS,
    CitizenAdminView,
    CitizenPublic,
    RefreshRequest,
    RolesUpdate,
    SuspensionCreate,
    TokenResponse,
    VerificationCompleted,
    VerificationCreate,
    VerificationPublic,
)
from identity_svc.service import citizens, sessions, verification
from identity_svc.service.citizens import CitizenView
from services.client import ClientDep
from services.problems import problem_responses

router = APIRouter(prefix="/v1/identity")
wellknown = APIRouter()

SANDBOX_COMPLETION_EXAMPLE = {
    "persona": {
        "name": "홍길동",
        "birthdate": "1990-05-17",
        "phone": "010-1234-5678",
        "ci_seed": "citizen-0001",
    }
}
COMPLETION_EXAMPLES = {
    "portone": {
        "summary": "PortOne: what the SDK answered (or the redirect's query parameters)",
        "value": {
            "transactionType": "IDENTITY_VERIFICATION",
            "identityVerificationId": "identity-verification-0b5e8c1e-3b7c-4a55-9d0c-3f1a1f7f2a10",
            "identityVerificationTxId": "01936b4e-8a0c-7d1e-b2f3-9c4d5e6f7a8b",
        },
    },
    "barocert_kakao": {
        "summary": "barocert (Kakao): nothing, once the person confirmed in KakaoTalk",
        "value": {},
    },
    "sandbox": {"summary": "Sandbox persona", "value": SANDBOX_COMPLETION_EXAMPLE},
}


def _public(view: CitizenView) -> CitizenPublic:
    c = view.citizen
    return CitizenPublic(
        citizen_id=c.id,
        roles=view.roles,
        department=view.department,
        age_band=c.age_band,
        is_foreigner=c.is_foreigner,
        status=c.status,
        verified_at=c.verified_at,
        providers=view.providers,
    )


def _admin_view(view: CitizenView) -> CitizenAdminView:
    return CitizenAdminView(
        **_public(view).model_dump(),
        created_at=view.citizen.created_at,
        suspended_reason=view.citizen.suspended_reason,
    )


@router.post(
    "/verifications",
    status_code=201,
    tags=["verification"],
    summary="Start a real-name verification",
    description=(
        "Opens a verification attempt with the provider (for `barocert_kakao`, sends the "
        "person a request to confirm in KakaoTalk) and answers what the front end does next. "
        "A provider that refuses the person answers 422 `verification-rejected`, one that "
        "cannot be reached 503 `provider-unavailable`. Attempts are rate-limited per client "
        "network (/24 or /48): past the limit, 429 `rate-limited` with `Retry-After` and no "
        "attempt opened (docs/abuse-limits.md)."
    ),
    responses=problem_responses(400, 413, 422, 429, 502, 503),
)
async def start_verification(
    body: VerificationCreate, session: SessionDep, ctx: CtxDep, client: ClientDep
) -> VerificationPublic:
    person = body.person
    request = StartRequest(
        channel=body.channel,
        person=PersonHint(SecretStr(person.name), SecretStr(person.phone), person.birthdate)
        if person is not None
        else None,
    )
    attempt, next_step = await verification.start_verification(
        session, ctx, body.provider, request, network=client.network
    )
    return VerificationPublic(
        verification_id=attempt.id,
        provider=attempt.provider,
        expires_at=attempt.expires_at,
        next=next_step,
    )


@router.post(
    "/verifications/{verification_id}/complete",
    tags=["verification"],
    summary="Complete a verification with the provider's callback payload",
    description=(
        "Checks the provider's answer, finds or creates the one account of the verified person "
        "(deduplicated by a keyed hash of the CI, across providers) and signs them in. Each "
        "verification completes once: a replay answers 409 `verification-already-used` (a "
        "provider verification already used by another attempt 409 `verification-replayed`), "
        "an expired one 410, a refused or tampered answer 422 and burns the attempt. 409 "
        "`verification-pending` (the person has not finished with the provider yet) and 503 "
        "`provider-unavailable` do not: post the same completion again."
    ),
    responses=problem_responses(400, 403, 404, 409, 410, 413, 422, 502, 503),
)
async def complete_verification(
    verification_id: uuid.UUID,
    session: SessionDep,
    ctx: CtxDep,
    keys: KeysDep,
    payload: Annotated[
        dict[str, Any],
        Body(openapi_examples=COMPLETION_EXAMPLES),
    ],
) -> VerificationCompleted:
    result = await verification.complete_verification(session, ctx, keys, verification_id, payload)
    return VerificationCompleted(
        citizen_id=result.citizen_id,
        created=result.created,
        access_token=result.tokens.access_token,
        refresh_token=result.tokens.refresh_token,
        expires_in=result.tokens.expires_in,
    )


@router.post(
    "/tokens/refresh",
    tags=["tokens"],
    summary="Rotate a refresh token",
    description="Returns a new pair. Presenting a refresh token twice revokes its whole family.",
    responses=problem_responses(400, 401, 403, 413, 422),
)
async def refresh_tokens(
    body: RefreshRequest, session: SessionDep, ctx: CtxDep, keys: KeysDep
) -> TokenResponse:
    pair = await sessions.refresh(session, ctx, keys, body.refresh_token)
    return TokenResponse(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post(
    "/sessions/logout",
    status_code=204,
    tags=["tokens"],
    summary="Sign out: revoke the refresh-token family of this sign-in",
    description=(
        "Every refresh token of the sign-in the presented one belongs to is revoked (later "
        "refreshes answer 401 `refresh-token-revoked`); other sign-ins of the citizen stay. "
        "Idempotent, and accepted for an already rotated or expired token of the sign-in; 401 "
        "`invalid-refresh-token` for a token never issued. Access tokens already issued stay "
        "valid until they expire (15 minutes): a front end discards its own."
    ),
    responses=problem_responses(400, 401, 413, 422),
)
async def logout(body: RefreshRequest, session: SessionDep, ctx: CtxDep) -> Response:
    await sessions.logout(session, ctx, body.refresh_token)
    return Response(status_code=204)


@router.get(
    "/me", tags=["citizens"], summary="The signed-in citizen", responses=problem_responses(401, 404)
)
async def me(principal: CurrentCitizen, session: SessionDep) -> CitizenPublic:
    return _public(await citizens.citizen_view(session, principal.citizen_id))


@router.get(
    "/citizens/{citizen_id}",
    tags=["admin"],
    summary="A citizen (admin)",
    responses=problem_responses(401, 403, 404),
)
async def get_citizen(citizen_id: uuid.UUID, _: AdminDep, session: SessionDep) -> CitizenAdminView:
    return _admin_view(await citizens.citizen_view(session, citizen_id))


@router.put(
    "/citizens/{citizen_id}/roles",
    tags=["admin"],
    summary="Set a citizen's staff roles (admin)",
    description="Replaces the staff roles. Tokens issued from the next refresh carry them.",
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422),
)
async def put_roles(
    citizen_id: uuid.UUID, body: RolesUpdate, admin: AdminDep, session: SessionDep
) -> CitizenAdminView:
    view = await citizens.set_roles(session, admin, citizen_id, body.roles, body.department)
    return _admin_view(view)


@router.post(
    "/citizens/{citizen_id}/suspension",
    tags=["admin"],
    summary="Suspend a citizen (admin)",
    description="Revokes their refresh tokens and publishes `identity.citizen_suspended`. Idempotent.",
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422),
)
async def suspend(
    citizen_id: uuid.UUID,
    body: SuspensionCreate,
    admin: AdminDep,
    session: SessionDep,
    ctx: CtxDep,
) -> CitizenAdminView:
    return _admin_view(await citizens.suspend(session, ctx, admin, citizen_id, body.reason))


@router.delete(
    "/citizens/{citizen_id}/suspension",
    tags=["admin"],
    summary="Lift a suspension (admin)",
    responses=problem_responses(401, 403, 404),
)
async def reinstate(
    citizen_id: uuid.UUID, admin: AdminDep, session: SessionDep, ctx: CtxDep
) -> CitizenAdminView:
    return _admin_view(await citizens.reinstate(session, ctx, admin, citizen_id))


@wellknown.get(
    "/.well-known/jwks.json",
    tags=["tokens"],
    summary="Public keys that verify access tokens",
    response_model=JWKS,
)
async def jwks(keys: KeysDep, response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = "public, max-age=300"
    return await keys.jwks()
