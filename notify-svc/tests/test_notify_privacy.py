"""No phone number in notify-svc's database or logs: a run through every path that touches one
(the dev provider, NHN Cloud simulated with httpx.MockTransport including a refusal that echoes
the number, retries, the SMS fallback, webhooks), then every table and every captured log line
is searched for the number in any of its spellings."""

from __future__ import annotations

import json
import logging
import re

import httpx
import pytest
from notify_helpers import MockClient, Notify, SimulatedNhn, nhn_settings
from sqlalchemy import text
from standin_directory import StandInDirectory

from notify_svc.config import NotifySettings
from notify_svc.providers.dev import SIGNATURE_HEADER, sign_webhook
from notify_svc.registry import build_providers

NUMBER = "010-9876-5432"
#: Every way the number could be written down (digits, dashed, international, the tail).
SPELLINGS = re.compile(r"0?10[- ]?9876[- ]?5432|\+?82[- ]?10[- ]?9876|98765432|9876-5432")


async def every_row_as_text(notify: Notify) -> str:
    async with notify.sessions() as session:
        tables = [
            str(name)
            for name in await session.scalars(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
        ]
        dumps = []
        for table in tables:
            dump = await session.scalar(
                text(f"SELECT string_agg(t::text, E'\\n') FROM \"{table}\" t")
            )
            dumps.append(f"{table}: {dump or ''}")
    return "\n".join(dumps)


async def test_no_phone_number_in_any_table_or_log_line(
    notify: Notify,
    people: StandInDirectory,
    notify_settings: NotifySettings,
    mock_client: MockClient,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    citizens = [await people.citizen(phone=NUMBER) for _ in range(3)]
    await notify.plan(citizens)

    # The dev provider for the first round; its webhook reports one AlimTalk undelivered.
    dispatcher = notify.dispatcher()
    await dispatcher.run_once()
    first = await notify.one(citizen_id=citizens[0])
    assert first.provider_message_id is not None
    body = json.dumps(
        {"reports": [{"provider_message_id": first.provider_message_id, "status": "failed"}]}
    ).encode()
    secret = notify_settings.dev_webhook_secret.get_secret_value()
    answer = await client.post(
        "/v1/notifications/webhooks/dev",
        content=body,
        headers={SIGNATURE_HEADER: sign_webhook(secret, body)},
    )
    assert answer.status_code == 200, answer.text
    await dispatcher.run_once()  # the SMS fallback through the dev provider

    # NHN Cloud: a refusal whose message echoes the number, a 429, then success.
    second_event = await notify.plan(citizens)
    echo = httpx.Response(
        200,
        json={
            "header": {
                "isSuccessful": False,
                "resultCode": -5000,
                "resultMessage": f"invalid recipientNo {NUMBER.replace('-', '')}",
            }
        },
    )
    fake = SimulatedNhn(
        alimtalk_script=[echo], sms_script=[httpx.Response(429, headers={"Retry-After": "1"})]
    )
    settings = NotifySettings(
        environment="test",
        database_url=notify_settings.database_url,
        nats_url=notify_settings.nats_url,
        **nhn_settings(),
    )
    async with build_providers(settings, notify.sessions, client=mock_client(fake.handle)) as nhn:
        nhn_dispatcher = notify.dispatcher(providers=nhn)
        for _ in range(4):
            await nhn_dispatcher.run_once()
            notify.clock.advance(seconds=5)
    second = await notify.rows(event_id=second_event)
    assert {r.status for r in second} == {"sent", "failed"}
    assert any(r.error_code == "-5000" for r in second)
    # The number did reach the providers (they need it) ...
    assert any(NUMBER.replace("-", "") in r.read().decode() for r in fake.requests if r.content)
    assert (await notify.dev_messages())[0].to_masked == "010-****-5432"

    # ... and nowhere else.
    stored = await every_row_as_text(notify)
    assert "notifications:" in stored
    assert "010-****-5432" in stored
    assert not SPELLINGS.search(stored), SPELLINGS.findall(stored)
    logged = "\n".join(
        record.getMessage() + " " + json.dumps(record.__dict__, default=str)
        for record in caplog.records
    )
    assert "010-****-5432" in logged
    assert not SPELLINGS.search(logged), SPELLINGS.findall(logged)
