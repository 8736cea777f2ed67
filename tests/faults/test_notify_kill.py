"""Fault test: ``kill -9`` of the notify-svc dispatcher between the provider's acceptance of a
message and the database update that records it. After a restart the message is sent again
with the same idempotency key, the provider (the dev provider, which like NHN Cloud answers a
repeated key "already accepted") holds exactly one message, and the row ends ``sent``.

The process kills itself at exactly that point through the test-only hook
``NOTIFY_FAULT_CRASH_AFTER_SEND=1`` (refused in production). identity-svc runs for real on a
local port and answers the phone-number look-up over its signed internal endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn

from identity_svc.config import IdentitySettings
from identity_svc.main import create_app as create_identity_app
from notify_svc.service.planning import Message, plan
from services.db import create_engine, create_sessionmaker, to_plain_url, transaction
from services_dev.localrt.postgres import EmbeddedPostgres
from services_dev.testing.plugin import clone_database, migrated_template
from services_dev.testing.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PHONE = "010-5555-0147"


@pytest.fixture(scope="session")
def notify_templates(pg_server: EmbeddedPostgres) -> dict[str, str]:
    return {
        "notify": migrated_template(
            pg_server, "faults_notify_template", ROOT / "notify-svc/src/notify_svc/migrations"
        ),
        "identity": migrated_template(
            pg_server,
            "faults_identity_template",
            ROOT / "identity-svc/src/identity_svc/migrations",
        ),
    }


@contextlib.asynccontextmanager
async def identity_server(database_url: str, nats_url: str) -> AsyncIterator[str]:
    """identity-svc served over real HTTP on a free local port; yields its base URL."""
    settings = IdentitySettings(environment="test", database_url=database_url, nats_url=nats_url)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_identity_app(settings), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


async def _until(what: str, check: Callable[[], Awaitable[bool]], within: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


async def _sign_up(identity_url: str) -> uuid.UUID:
    async with httpx.AsyncClient(base_url=identity_url, trust_env=False) as client:
        started = await client.post("/v1/identity/verifications", json={"provider": "sandbox"})
        done = await client.post(
            f"/v1/identity/verifications/{started.json()['verification_id']}/complete",
            json={
                "persona": {
                    "name": "김시민",
                    "birthdate": "1990-01-02",
                    "phone": PHONE,
                    "ci_seed": f"faults-{uuid.uuid4()}",
                }
            },
        )
        assert done.status_code == 200, done.text
        return uuid.UUID(done.json()["citizen_id"])


async def _dispatcher(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            str(BIN / "notify-svc"), "send", env=env, stdout=out, stderr=asyncio.subprocess.STDOUT
        )


@pytest.mark.timeout(180)
async def test_dispatcher_killed_after_the_provider_accepted_resends_once_and_ends_sent(
    notify_templates: dict[str, str],
    pg_server: EmbeddedPostgres,
    service_env: dict[str, str],
    tmp_path: Path,
) -> None:
    nats_url = service_env["nats_url"]
    notify_url = await clone_database(pg_server, notify_templates["notify"])
    identity_db = await clone_database(pg_server, notify_templates["identity"])
    engine = create_engine(notify_url)
    db = await asyncpg.connect(to_plain_url(notify_url))
    dispatcher: asyncio.subprocess.Process | None = None
    try:
        async with identity_server(identity_db, nats_url) as identity_url:
            citizen = await _sign_up(identity_url)
            async with transaction(create_sessionmaker(engine)) as session:
                await plan(
                    session,
                    event_id=uuid.uuid4(),
                    event_type="kr.seoul.democracy.proposal.answered.v1",
                    citizen_ids=[citizen],
                    message=Message(
                        "PROPOSAL_ANSWERED",
                        {"제안제목": "정전 대비 비상 조명", "답변주체": "담당 부서"},
                    ),
                    now=await db.fetchval("SELECT now()"),
                )
            base: dict[str, Any] = {
                k: v for k, v in os.environ.items() if not k.startswith("NOTIFY_")
            }
            env = {
                **base,
                "NOTIFY_DATABASE_URL": notify_url,
                "NOTIFY_NATS_URL": nats_url,
                "NOTIFY_ENVIRONMENT": "test",
                "NOTIFY_PROVIDER": "dev",
                "NOTIFY_IDENTITY_URL": identity_url,
                "NOTIFY_SEND_LEASE_SECONDS": "2",
                "NOTIFY_SEND_IDLE_SECONDS": "0.1",
                # No quiet window (start = end): run at night KST too, the message would wait
                # for 08:00 otherwise.
                "NOTIFY_QUIET_START_HOUR": "0",
                "NOTIFY_QUIET_END_HOUR": "0",
            }
            log = tmp_path / "notify-send.log"

            dispatcher = await _dispatcher({**env, "NOTIFY_FAULT_CRASH_AFTER_SEND": "1"}, log)
            assert await asyncio.wait_for(dispatcher.wait(), 60) == -signal.SIGKILL
            # The provider has the message; the row does not know it yet.
            assert await db.fetchval("SELECT count(*) FROM dev_messages") == 1
            row = await db.fetchrow("SELECT status, attempts FROM notifications")
            assert (row["status"], row["attempts"]) == ("sending", 1)

            dispatcher = await _dispatcher(env, log)

            async def sent() -> bool:
                return bool(await db.fetchval("SELECT status FROM notifications") == "sent")

            await _until("the restarted dispatcher to record the message sent", sent)
            await asyncio.sleep(1.0)  # a duplicate send would show up now
            dispatcher.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(dispatcher.wait(), 30) == 0
            dispatcher = None

        row = await db.fetchrow(
            "SELECT status, attempts, idempotency_key, provider_message_id FROM notifications"
        )
        message = await db.fetchrow("SELECT idempotency_key, provider_message_id FROM dev_messages")
        assert await db.fetchval("SELECT count(*) FROM dev_messages") == 1
        assert (row["status"], row["attempts"]) == ("sent", 2)
        assert row["idempotency_key"] == message["idempotency_key"]
        assert row["provider_message_id"] == message["provider_message_id"]
        output = log.read_text(errors="replace")
        assert "already accepted" in output
        assert "010-****-0147" in output
        digits = PHONE.replace("-", "")
        assert digits not in output
        assert PHONE not in output
    finally:
        if dispatcher is not None and dispatcher.returncode is None:
            dispatcher.kill()
            await dispatcher.wait()
        await db.close()
        await engine.dispose()
