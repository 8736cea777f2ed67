"""notify-svc refuses unsafe or incomplete configuration, and a broken AlimTalk template stops
the app and every worker from starting."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from notify_helpers import nhn_settings
from pydantic import ValidationError
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from notify_svc import cli, templates
from notify_svc.bootstrap import bootstrap
from notify_svc.config import NotifySettings, get_settings
from notify_svc.main import create_app
from notify_svc.models import (
    DeliveryReportRow,
    DevMessage,
    InboxMessage,
    Notification,
    OutboxMessage,
    Preference,
    ProposalRef,
    RecipientJob,
)
from notify_svc.templates import Template, TemplateValidationError
from services.db import Base, create_engine

NOTIFY_TABLES = [
    Notification,
    Preference,
    DeliveryReportRow,
    RecipientJob,
    ProposalRef,
    DevMessage,
    OutboxMessage,
    InboxMessage,
]

PRODUCTION_KEY = base64.b64encode(b"p" * 32).decode()


def settings(**values: Any) -> NotifySettings:
    return NotifySettings(**values)


def test_production_refuses_the_dev_provider_key_and_crash_hook() -> None:
    with pytest.raises(ValidationError, match="NOTIFY_SERVICE_KEY"):
        settings(environment="production", **nhn_settings())
    with pytest.raises(ValidationError, match="dev provider"):
        settings(environment="production", service_key=PRODUCTION_KEY)
    with pytest.raises(ValidationError, match="dev provider"):
        settings(
            environment="production",
            service_key=PRODUCTION_KEY,
            **nhn_settings(sms_provider="dev"),
        )
    with pytest.raises(ValidationError, match="test hook"):
        settings(
            environment="production",
            service_key=PRODUCTION_KEY,
            fault_crash_after_send=True,
            **nhn_settings(),
        )
    ready = settings(environment="production", service_key=PRODUCTION_KEY, **nhn_settings())
    assert (ready.alimtalk, ready.sms, ready.dev_endpoints) == ("nhn", "nhn", False)


def test_chosen_providers_need_their_keys() -> None:
    with pytest.raises(ValidationError) as refused:
        settings(provider="nhn")
    message = str(refused.value)
    for name in ("NOTIFY_NHN_ALIMTALK_APP_KEY", "NOTIFY_NHN_SMS_SEND_NO"):
        assert name in message
    with pytest.raises(ValidationError, match="NOTIFY_SOLAPI_PF_ID"):
        settings(
            alimtalk_provider="solapi",
            solapi_api_key="k",
            solapi_api_secret="s",
            solapi_sender="0212345678",
        )
    mixed = settings(
        alimtalk_provider="nhn",
        sms_provider="solapi",
        solapi_api_key="k",
        solapi_api_secret="s",
        solapi_sender="0212345678",
        **{k: v for k, v in nhn_settings().items() if k.startswith("nhn_alimtalk")},
    )
    assert (mixed.alimtalk, mixed.sms) == ("nhn", "solapi")
    with pytest.raises(ValidationError, match="base64"):
        settings(service_key="not base64!")


def test_environment_variables_configure_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_PROVIDER", "solapi")
    monkeypatch.setenv("NOTIFY_SOLAPI_API_KEY", "key")
    monkeypatch.setenv("NOTIFY_SOLAPI_API_SECRET", "secret")
    monkeypatch.setenv("NOTIFY_SOLAPI_SENDER", "0212345678")
    monkeypatch.setenv("NOTIFY_SOLAPI_PF_ID", "KA01PF")
    monkeypatch.setenv("NOTIFY_SOLAPI_TEMPLATE_IDS", '{"PROPOSAL_ANSWERED": "KA01TP1"}')
    monkeypatch.setenv("NOTIFY_RATE_LIMITS", '{"solapi": {"rate": 5, "burst": 10}}')
    configured = NotifySettings()
    assert configured.solapi_template_ids == {"PROPOSAL_ANSWERED": "KA01TP1"}
    assert configured.rate_limits["solapi"].burst == 10


def test_a_template_kakao_would_refuse_stops_the_app_and_the_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = Template(
        code="PROPOSAL_ANSWERED",
        kakao_code="PRP_ANSWERED_V1",
        audience="citizen",
        text="[시민참여] #{제안제목} 🎉",
        sms_text="#{제안제목}",
        lms_title="[시민참여] 답변",
        sample={"제안제목": "그늘막"},
    )
    monkeypatch.setitem(templates.TEMPLATES, "PROPOSAL_ANSWERED", broken)
    with pytest.raises(TemplateValidationError, match="emoji"):
        create_app(bootstrap(NotifySettings()))
    with pytest.raises(TemplateValidationError):
        cli.main(["send"])


def _schema_differences(connection: Connection) -> list[Any]:
    # Only notify-svc's tables: other services' models may share Base.metadata in this process.
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    for model in NOTIFY_TABLES:
        model.__table__.to_metadata(metadata)  # type: ignore[attr-defined]
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    differences: list[Any] = compare_metadata(context, metadata)
    return differences


async def test_migrations_create_exactly_the_models(notify_settings: NotifySettings) -> None:
    engine = create_engine(notify_settings.database_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_schema_differences) == []
    finally:
        await engine.dispose()


async def test_cli_migrates_an_empty_database(
    service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_DATABASE_URL", service_env["database_url"])
    get_settings.cache_clear()
    try:
        assert await asyncio.to_thread(cli.main, ["migrate"]) == 0
    finally:
        get_settings.cache_clear()
    engine = create_engine(service_env["database_url"])
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_schema_differences) == []
    finally:
        await engine.dispose()
