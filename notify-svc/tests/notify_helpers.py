"""Helpers of notify-svc's tests (the fixtures that build them are in notify_fixtures.py); the
cross-service tests of tests/integration/notify use them too."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from nats.js import JetStreamContext
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notify_svc.bootstrap import NotifyContext
from notify_svc.consumers import build_consumers
from notify_svc.directory import HttpDirectory
from notify_svc.dispatch.dispatcher import Dispatcher
from notify_svc.dispatch.providers import Providers
from notify_svc.models import DevMessage, Notification
from notify_svc.providers.base import NotifyProvider
from notify_svc.providers.dev import DevProvider
from notify_svc.service.planning import Message, plan
from services.clock import ManualClock
from services.db import transaction
from services.events import CloudEvent, Event, to_envelope

#: Noon in Seoul (03:00 UTC): outside quiet hours.
NOON_KST = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
PHONE = "010-1234-5678"
PHONE_DIGITS = "01012345678"

Sessions = async_sessionmaker[AsyncSession]


class Citizens(Protocol):
    """Where the citizens the directory knows come from, as the cross-service tests of
    tests/integration/notify see identity-svc (its conftest has the implementation)."""

    async def citizen(self, phone: str = PHONE, **persona: Any) -> uuid.UUID:
        """A new verified citizen with ``phone`` (``roles``, ``department`` for staff)."""
        ...


class Forums(Protocol):
    """Where forums and their participants come from, as those tests see vote-svc."""

    async def forum(self, participants: list[uuid.UUID]) -> uuid.UUID:
        """An open forum in which each of ``participants`` cast a ballot."""
        ...


@dataclass
class Notify:
    """The pieces of notify-svc a test drives: plan messages, run dispatchers and consumers,
    read rows. ``ctx`` is built with ``clock``, the clock the test moves."""

    ctx: NotifyContext
    clock: ManualClock
    sessions: Sessions
    directory: HttpDirectory
    dev: DevProvider

    def dispatcher(
        self,
        alimtalk: NotifyProvider | None = None,
        sms: NotifyProvider | None = None,
        **kwargs: Any,
    ) -> Dispatcher:
        providers = kwargs.pop("providers", None) or Providers(
            alimtalk or self.dev, sms or self.dev
        )
        return Dispatcher(
            self.sessions,
            providers=providers,
            directory=kwargs.pop("directory", self.directory),
            policy=kwargs.pop("policy", self.ctx.policy),
            clock=self.clock,
            **kwargs,
        )

    async def plan(
        self,
        citizen_ids: list[uuid.UUID],
        *,
        code: str = "PROPOSAL_ANSWERED",
        variables: dict[str, str] | None = None,
        event_id: uuid.UUID | None = None,
        urgent: bool = False,
        proposal_id: uuid.UUID | None = None,
        forum_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """Queue a message for each citizen as a consumer would; returns the event id."""
        event_id = event_id or uuid.uuid4()
        async with transaction(self.sessions) as session:
            await plan(
                session,
                event_id=event_id,
                event_type="kr.seoul.democracy.proposal.answered.v1",
                citizen_ids=citizen_ids,
                message=Message(
                    code,
                    variables
                    or {"제안제목": "따릉이 대여소를 늘려주세요", "답변주체": "담당 부서"},
                    urgent=urgent,
                    proposal_id=proposal_id,
                    forum_id=forum_id,
                ),
                now=self.clock.now(),
            )
        return event_id

    async def rows(self, **where: Any) -> list[Notification]:
        async with self.sessions() as session:
            query = select(Notification).order_by(Notification.created_at, Notification.channel)
            for column, value in where.items():
                query = query.where(getattr(Notification, column) == value)
            return list(await session.scalars(query))

    async def one(self, **where: Any) -> Notification:
        rows = await self.rows(**where)
        assert len(rows) == 1, [(r.channel, r.status) for r in rows]
        return rows[0]

    async def dev_messages(self) -> list[DevMessage]:
        async with self.sessions() as session:
            return list(await session.scalars(select(DevMessage).order_by(DevMessage.id)))

    async def count(self, model: Any, *conditions: Any) -> int:
        async with self.sessions() as session:
            query = select(func.count()).select_from(model)
            for condition in conditions:
                query = query.where(condition)
            return int(await session.scalar(query) or 0)

    async def consume(self, js: JetStreamContext) -> int:
        """Run notify-svc's consumer until the stream has nothing more for it."""
        [runner] = build_consumers(self.ctx, self.sessions, js)
        await runner.setup()
        handled = 0
        while taken := await runner.process_batch(wait=0.5):
            handled += taken
        return handled


async def publish(js: JetStreamContext, event: Event, *, dedupe: bool = True) -> CloudEvent:
    """Publish ``event`` on its subject as its producer's relay would; its envelope."""
    envelope = to_envelope(event)
    await publish_envelope(js, event, envelope, dedupe=dedupe)
    return envelope


async def publish_envelope(
    js: JetStreamContext, event: Event, envelope: CloudEvent, *, dedupe: bool = True
) -> None:
    """Publish ``envelope`` (without ``dedupe``: past the stream's duplicate window)."""
    data = json.dumps(envelope.model_dump(mode="json"), ensure_ascii=False).encode()
    headers = {"Nats-Msg-Id": envelope.id} if dedupe else None
    await js.publish(event.subject_name(), data, headers=headers)


#: Builds an httpx client whose requests are answered by ``handler`` (a simulated provider).
MockClient = Callable[[Callable[[httpx.Request], httpx.Response]], httpx.AsyncClient]


@dataclass
class SimulatedNhn:
    """NHN Cloud AlimTalk v2.3 and SMS v3.0 as their public API guides document them, behind an
    ``httpx.MockTransport`` (NHN cannot be reached from tests). Answers are scripted per
    product: each send takes the next scripted answer, then ``success`` forever."""

    alimtalk_script: list[httpx.Response] = field(default_factory=list)
    sms_script: list[httpx.Response] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    sequence: int = 0
    #: AlimTalk sends accepted, by recipientGroupingKey: (requestId, recipientSeq).
    grouping_keys: dict[str, tuple[str, int]] = field(default_factory=dict)

    def sends(self, product: str) -> list[httpx.Request]:
        """The send requests (POST) to ``alimtalk`` or ``sms``."""
        marker = "/alimtalk/" if product == "alimtalk" else "/sms/"
        return [r for r in self.requests if r.method == "POST" and marker in r.url.path]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if request.method == "GET":
            # Listing by recipientGroupingKey (an earlier send is looked up): none found.
            if "/sms/" in path:
                return httpx.Response(200, json={"header": _ok(), "body": {"data": []}})
            key = request.url.params.get("recipientGroupingKey")
            found = self.grouping_keys.get(key or "")
            messages = [{"requestId": found[0], "recipientSeq": found[1]}] if found else []
            return httpx.Response(
                200, json={"header": _ok(), "messageSearchResultResponse": {"messages": messages}}
            )
        self.sequence += 1
        request_id = f"20261125{self.sequence:012d}"
        if "/alimtalk/" in path:
            if self.alimtalk_script:
                return self.alimtalk_script.pop(0)
            recipients = json.loads(request.content).get("recipientList") or [{}]
            for seq, recipient in enumerate(recipients, start=1):
                if recipient.get("recipientGroupingKey"):
                    self.grouping_keys[recipient["recipientGroupingKey"]] = (request_id, seq)
            return alimtalk_accepted(request_id, recipients)
        if self.sms_script:
            return self.sms_script.pop(0)
        return sms_accepted(request_id)


def _ok() -> dict[str, Any]:
    return {"isSuccessful": True, "resultCode": 0, "resultMessage": "SUCCESS"}


def alimtalk_accepted(
    request_id: str, recipients: list[dict[str, Any]] | None = None
) -> httpx.Response:
    """NHN AlimTalk's documented answer to an accepted send: one ``sendResults`` entry per
    recipient of ``recipientList``, with its ``recipientGroupingKey``."""
    return httpx.Response(
        200,
        json={
            "header": _ok(),
            "message": {
                "requestId": request_id,
                "senderGroupingKey": None,
                "sendResults": [
                    {
                        "recipientSeq": seq,
                        "recipientNo": recipient.get("recipientNo"),
                        "resultCode": 0,
                        "resultMessage": "SUCCESS",
                        "recipientGroupingKey": recipient.get("recipientGroupingKey"),
                    }
                    for seq, recipient in enumerate(recipients or [{}], start=1)
                ],
            },
        },
    )


def sms_accepted(request_id: str) -> httpx.Response:
    """NHN SMS's documented answer to an accepted send."""
    return httpx.Response(
        200,
        json={
            "header": _ok(),
            "body": {
                "data": {
                    "requestId": request_id,
                    "statusCode": "2",
                    "senderGroupingKey": None,
                    "sendResultList": [
                        {"resultCode": 0, "resultMessage": "SUCCESS", "recipientSeq": 1}
                    ],
                }
            },
        },
    )


def nhn_refusal(code: int, message: str) -> httpx.Response:
    """NHN's documented answer to a refused request (e.g. -3010 text differs from the template)."""
    return httpx.Response(
        200, json={"header": {"isSuccessful": False, "resultCode": code, "resultMessage": message}}
    )


def nhn_settings(**overrides: Any) -> dict[str, Any]:
    """Settings selecting NHN Cloud for both channels (with made-up keys)."""
    return {
        "provider": "nhn",
        "nhn_alimtalk_app_key": "alimtalk-app",
        "nhn_alimtalk_secret_key": "alimtalk-secret",
        "nhn_alimtalk_sender_key": "sender-key",
        "nhn_alimtalk_webhook_secret": "nhn-webhook-secret",
        "nhn_sms_app_key": "sms-app",
        "nhn_sms_secret_key": "sms-secret",
        "nhn_sms_send_no": "0212345678",
        "nhn_sms_webhook_secret": "nhn-webhook-secret",
        **overrides,
    }
