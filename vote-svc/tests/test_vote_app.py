"""vote-svc as a whole: operations endpoints, its OpenAPI document, settings that production
refuses, the schema its migrations create, and its command line."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from services.db import Base, create_engine, to_plain_url
from services.ratelimit import rate_limits
from services_dev.testing import running_app
from vote_svc import cli
from vote_svc.bootstrap import bootstrap
from vote_svc.config import VoteSettings, get_settings
from vote_svc.integrity.models import IntegritySignal, VoteSignal
from vote_svc.main import create_app
from vote_svc.models import (
    CitizenSuspension,
    InboxMessage,
    LedgerRecording,
    OutboxMessage,
    Tally,
    Target,
    Vote,
)

VOTE_TABLES = [
    Vote,
    Tally,
    Target,
    CitizenSuspension,
    LedgerRecording,
    OutboxMessage,
    InboxMessage,
    VoteSignal,
    IntegritySignal,
]


async def test_health_ready_and_openapi(service_env: dict[str, str]) -> None:
    settings = VoteSettings(
        database_url=service_env["database_url"], nats_url=service_env["nats_url"]
    )
    async with running_app(create_app(bootstrap(settings))) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "nats": "ok"}
        unknown = await client.get("/v1/vote/nothing-here")
        assert unknown.status_code == 404
        assert unknown.headers["content-type"] == "application/problem+json"
        document = (await client.get("/openapi.json")).json()
    assert document["info"]["title"] == "vote-svc"
    assert set(document["paths"]) >= {
        "/v1/votes/agreements",
        "/v1/votes/forums/{forum_id}/ballots",
        "/v1/votes/tallies/proposals/{proposal_id}",
        "/v1/votes/tallies/forums/{forum_id}",
        "/v1/votes/{vote_id}",
    }
    conflict = document["paths"]["/v1/votes/agreements"]["post"]["responses"]["409"]
    assert conflict["content"]["application/problem+json"]["example"]["vote_id"]


def test_the_dev_tag_key_is_refused_in_production() -> None:
    assert len(VoteSettings().tag_key) == 32
    with pytest.raises(ValidationError, match="VOTE_LEDGER_TAG_KEY must be set in production"):
        VoteSettings(environment="production")
    key = base64.b64encode(bytes(range(32))).decode()
    internal = {"notify-svc": base64.b64encode(b"n" * 32).decode()}
    service_key = base64.b64encode(b"v" * 32).decode()
    signal = base64.b64encode(b"s" * 32).decode()
    with pytest.raises(ValidationError, match="VOTE_SERVICE_KEY must be set in production"):
        VoteSettings(
            environment="production", ledger_tag_key=key, internal_keys=internal, signal_key=signal
        )
    with pytest.raises(ValidationError, match="VOTE_SIGNAL_KEY must be set in production"):
        VoteSettings(
            environment="production",
            ledger_tag_key=key,
            internal_keys=internal,
            service_key=service_key,
        )
    production = VoteSettings(
        environment="production",
        ledger_tag_key=key,
        internal_keys=internal,
        service_key=service_key,
        signal_key=signal,
    )
    assert production.tag_key == bytes(range(32))
    assert production.service_key_bytes == b"v" * 32
    assert production.signal_key_bytes == b"s" * 32


@pytest.mark.parametrize("key", [base64.b64encode(b"too short").decode(), "not base64 at all!"])
def test_a_service_key_that_is_not_base64_of_32_bytes_is_refused(key: str) -> None:
    with pytest.raises(ValidationError, match="VOTE_SERVICE_KEY"):
        VoteSettings(service_key=key)


@pytest.mark.parametrize("key", [base64.b64encode(b"too short").decode(), "not base64 at all!", ""])
def test_a_tag_key_that_is_not_32_bytes_of_base64_is_refused(key: str) -> None:
    with pytest.raises(ValidationError, match="VOTE_LEDGER_TAG_KEY"):
        VoteSettings(ledger_tag_key=key)


def test_the_tag_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    key = base64.b64encode(b"k" * 32).decode()
    monkeypatch.setenv("VOTE_LEDGER_TAG_KEY", key)
    assert VoteSettings().tag_key == b"k" * 32


def _schema_differences(connection: Connection) -> list[Any]:
    # Only vote-svc's tables: other services' models may share Base.metadata in this process.
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    for model in VOTE_TABLES:
        model.__table__.to_metadata(metadata)  # type: ignore[attr-defined]
    rate_limits.to_metadata(metadata)
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    differences: list[Any] = compare_metadata(context, metadata)
    return differences


async def test_migrations_create_exactly_the_models(vote_settings: VoteSettings) -> None:
    engine = create_engine(vote_settings.database_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_schema_differences) == []
    finally:
        await engine.dispose()


async def test_cli_migrates_an_empty_database(
    service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOTE_DATABASE_URL", service_env["database_url"])
    get_settings.cache_clear()
    try:
        # The command runs its own event loop, as it does from a shell.
        assert await asyncio.to_thread(cli.main, ["migrate"]) == 0
    finally:
        get_settings.cache_clear()
    conn = await asyncpg.connect(to_plain_url(service_env["database_url"]))
    try:
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
    finally:
        await conn.close()
    assert tables >= {"votes", "tallies", "targets", "citizen_suspensions", "outbox", "inbox"}


def test_cli_offers_relay_and_consume(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    usage = capsys.readouterr().out
    assert "relay" in usage
    assert "consume" in usage
