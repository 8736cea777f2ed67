"""notify-svc routes: parse, call the use case, shape the response."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request

from notify_svc.deps import (
    AdminDep,
    CitizenDep,
    ContextDep,
    Cursor,
    DevLimit,
    Limit,
    NotificationId,
    NowDep,
    ProviderName,
    ProvidersDep,
    SessionDep,
    TemplateCode,
    query_only,
)
from notify_svc.models import Notification
from notify_svc.providers._common import MalformedWebhookError
from notify_svc.providers.base import WebhookSignatureError
from notify_svc.schemas import (
    DeadLetterPage,
    DeadLetterPublic,
    DevMessagePage,
    DevMessagePublic,
    NotificationPage,
    NotificationPublic,
    PreferencesPublic,
    PreferencesUpdate,
    ReadAll,
    UnreadCount,
    WebhookReceived,
)
from notify_svc.service import delivery, preferences, reads
from services.problems import ProblemError, problem_responses

router = APIRouter(prefix="/v1/notifications")
dev_router = APIRouter(prefix="/v1/notifications/dev", tags=["development"])


def _link(row: Notification, web_base_url: str) -> str | None:
    """Where the citizen app shows what the message is about."""
    base = web_base_url.rstrip("/")
    if row.forum_id is not None:
        return f"{base}/forums/{row.forum_id}"
    if row.proposal_id is not None:
        return f"{base}/proposals/{row.proposal_id}"
    return None


def _public(row: Notification, web_base_url: str = "") -> NotificationPublic:
    return NotificationPublic(
        id=row.id,
        event_type=row.event_type,
        channel=row.channel,
        template_code=row.template_code,
        text=row.text,
        title=row.title,
        status=row.status,
        skip_reason=row.skip_reason,
        attempts=row.attempts,
        fallback_of=row.fallback_of,
        created_at=row.created_at,
        sent_at=row.sent_at,
        delivered_at=row.delivered_at,
        failed_at=row.failed_at,
        proposal_id=row.proposal_id,
        forum_id=row.forum_id,
        link=_link(row, web_base_url) if web_base_url else None,
        read_at=row.read_at,
    )


def _dead(row: Notification) -> DeadLetterPublic:
    return DeadLetterPublic(
        **_public(row).model_dump(),
        citizen_id=row.citizen_id,
        event_id=row.event_id,
        provider=row.provider,
        error_code=row.error_code,
        error_message=row.error_message,
        updated_at=row.updated_at,
    )


def _prefs(prefs: preferences.Preferences) -> PreferencesPublic:
    return PreferencesPublic(
        channels=prefs.channels,
        opt_out=prefs.opt_out,
        night_consent=prefs.night_consent,
        updated_at=prefs.updated_at,
    )


@router.get(
    "/mine",
    tags=["notifications"],
    summary="The messages sent (or planned) to me",
    description=(
        "Newest first, with channel, template, text, delivery status, what it is about "
        "(`proposal_id`, `forum_id`), its deep `link` into the citizen app and `read_at`; "
        "`unread` counts all my unread messages. Keyset pagination: pass `next_cursor` back as "
        "`cursor`; a cursor not made here answers 400 `invalid-cursor`."
    ),
    dependencies=[Depends(query_only("cursor", "limit"))],
    responses=problem_responses(400, 401, 403, 422),
)
async def mine(
    citizen: CitizenDep,
    session: SessionDep,
    ctx: ContextDep,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> NotificationPage:
    page = await reads.list_for_citizen(session, citizen.citizen_id, cursor=cursor, limit=limit)
    base = ctx.settings.web_base_url
    return NotificationPage(
        items=[_public(r, base) for r in page.items],
        next_cursor=page.next_cursor,
        unread=await reads.unread_count(session, citizen.citizen_id),
    )


@router.get(
    "/unread-count",
    tags=["notifications"],
    summary="How many of my messages are unread",
    description=(
        "An SMS/LMS sent in place of a failed AlimTalk is the same message: counted once, and "
        "marked read with it."
    ),
    dependencies=[Depends(query_only())],
    responses=problem_responses(401, 403, 422),
)
async def unread_count(citizen: CitizenDep, session: SessionDep) -> UnreadCount:
    return UnreadCount(unread=await reads.unread_count(session, citizen.citizen_id))


@router.post(
    "/read-all",
    tags=["notifications"],
    summary="Mark all my messages read",
    description="`marked`: how many were unread; messages already read keep their `read_at`.",
    dependencies=[Depends(query_only())],
    responses=problem_responses(401, 403, 422),
)
async def read_all(citizen: CitizenDep, session: SessionDep, now: NowDep) -> ReadAll:
    marked = await reads.mark_all_read(session, citizen.citizen_id, now)
    return ReadAll(marked=marked, unread=0)


@router.post(
    "/{notification_id}/read",
    tags=["notifications"],
    summary="Mark one of my messages read",
    description=(
        "Sets `read_at` (marking it again keeps the first time; its SMS/LMS fallback is marked "
        "with it). Another citizen's message, or one that does not exist: 404 "
        "`notification-not-found`, nothing changed."
    ),
    dependencies=[Depends(query_only())],
    responses=problem_responses(401, 403, 404, 422),
)
async def read_one(
    notification_id: NotificationId,
    citizen: CitizenDep,
    session: SessionDep,
    ctx: ContextDep,
    now: NowDep,
) -> NotificationPublic:
    row = await reads.mark_read(session, citizen.citizen_id, notification_id, now)
    return _public(row, ctx.settings.web_base_url)


@router.get(
    "/preferences",
    tags=["preferences"],
    summary="My notification preferences",
    description="The defaults (`alimtalk` then `sms`, no opt-out, no night consent) until set.",
    responses=problem_responses(401, 403),
)
async def get_preferences(citizen: CitizenDep, session: SessionDep) -> PreferencesPublic:
    return _prefs(await preferences.get_preferences(session, citizen.citizen_id))


@router.put(
    "/preferences",
    tags=["preferences"],
    summary="Set my notification preferences",
    description=(
        "`channels`: `alimtalk` (KakaoTalk, with an SMS/LMS fallback when `sms` is also given) "
        "and/or `sms`. `opt_out`: no messages at all (each one is logged as `skipped`). "
        "`night_consent`: messages may also arrive between 21:00 and 08:00 KST."
    ),
    responses=problem_responses(400, 401, 403, 413, 422),
)
async def put_preferences(
    body: PreferencesUpdate, citizen: CitizenDep, session: SessionDep, now: NowDep
) -> PreferencesPublic:
    prefs = await preferences.put_preferences(
        session,
        citizen.citizen_id,
        channels=body.channels,
        opt_out=body.opt_out,
        night_consent=body.night_consent,
        now=now,
    )
    return _prefs(prefs)


@router.post(
    "/webhooks/{provider}",
    tags=["webhooks"],
    summary="Delivery reports from a provider (signature-checked)",
    description=(
        "Providers post delivery results here (`nhn_alimtalk`, `nhn_sms`, `solapi`, `dev`: the "
        "configured ones). The signature is checked by the provider's adapter: missing or wrong "
        "→ 401 `invalid-webhook-signature` and nothing changes. An unknown or unconfigured "
        "provider → 404 `unknown-provider`; a signed body that is not the provider's format → "
        "400 `malformed-webhook`. Each report updates its message (`delivered`, or `failed` with "
        "the SMS/LMS fallback of a failed AlimTalk queued once)."
    ),
    responses=problem_responses(400, 401, 404, 413),
)
async def webhook(
    provider: ProviderName,
    request: Request,
    session: SessionDep,
    providers: ProvidersDep,
    now: NowDep,
) -> WebhookReceived:
    adapter = providers.named(provider)
    if adapter is None:
        raise ProblemError(
            404,
            "unknown-provider",
            "Unknown provider",
            f"no configured provider is called {provider!r}",
            available=providers.names,
        )
    body = await request.body()
    try:
        reports = adapter.parse_webhook(request.headers, body)
    except WebhookSignatureError as exc:
        raise ProblemError(
            401, "invalid-webhook-signature", "Invalid webhook signature", str(exc)
        ) from None
    except MalformedWebhookError as exc:
        raise ProblemError(400, "malformed-webhook", "Malformed webhook", str(exc)) from None
    matched = 0
    for report in reports:
        matched += await delivery.record_report(session, adapter.name, report, now)
    return WebhookReceived(received=len(reports), matched=matched)


@router.get(
    "/admin/dead-letters",
    tags=["administration"],
    summary="Messages whose retries are exhausted (admin)",
    description="Most recently given up first; keyset pagination with `cursor`.",
    responses=problem_responses(400, 401, 403, 422),
)
async def dead_letters(
    _: AdminDep, session: SessionDep, cursor: Cursor = None, limit: Limit = 50
) -> DeadLetterPage:
    page = await reads.list_dead(session, cursor=cursor, limit=limit)
    return DeadLetterPage(items=[_dead(r) for r in page.items], next_cursor=page.next_cursor)


@router.post(
    "/admin/dead-letters/{notification_id}/requeue",
    tags=["administration"],
    summary="Send a dead message again (admin)",
    description=(
        "The message gets a fresh set of attempts, due now, with the same idempotency key. "
        "404 `notification-not-found`; 409 `notification-not-dead`; 409 `fallback-exists` when "
        "an SMS/LMS already carries a dead AlimTalk's content."
    ),
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def requeue(
    notification_id: NotificationId, _: AdminDep, session: SessionDep, now: NowDep
) -> DeadLetterPublic:
    return _dead(await reads.requeue(session, notification_id, now))


@dev_router.get(
    "/messages",
    summary="What the dev provider would have sent (development only)",
    description=(
        "Exists only with the `dev` provider outside production. Newest first; `citizen_id` "
        "keeps one citizen's messages; `template_code` one template's."
    ),
    responses=problem_responses(400, 422),
)
async def dev_messages(
    session: SessionDep,
    citizen_id: uuid.UUID | None = None,
    template_code: TemplateCode = None,
    cursor: Cursor = None,
    limit: DevLimit = 100,
) -> DevMessagePage:
    page = await reads.list_dev_messages(
        session, citizen_id=citizen_id, template_code=template_code, cursor=cursor, limit=limit
    )
    items = [
        DevMessagePublic(
            provider_message_id=m.provider_message_id,
            notification_id=nid,
            citizen_id=cid,
            channel=m.channel,
            to=m.to_masked,
            template_code=m.template_code,
            title=m.title,
            text=m.text,
            accepted_at=m.accepted_at,
            delivered_at=m.delivered_at,
        )
        for m, nid, cid in page.items
    ]
    return DevMessagePage(items=items, next_cursor=page.next_cursor)
