"""The five services for the contract fuzz suite: each app as ``make run`` builds it, in this
process, served by uvicorn on a free loopback port (its lifespan runs: database pool, NATS), on a
freshly migrated database of the test session's real PostgreSQL and the session's NATS. Tokens are
real: identity-svc's sandbox signs a citizen and a staff member in, and the other services verify
them through its JWKS, as in production."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from identity_svc.bootstrap import bootstrap as identity_bootstrap
from identity_svc.config import IdentitySettings
from identity_svc.main import create_app as identity_app
from ledger_svc.bootstrap import bootstrap as ledger_bootstrap
from ledger_svc.config import LedgerSettings
from ledger_svc.main import create_app as ledger_app
from notify_svc.bootstrap import bootstrap as notify_bootstrap
from notify_svc.config import NotifySettings
from notify_svc.main import create_app as notify_app
from proposal_svc.bootstrap import bootstrap as proposal_bootstrap
from proposal_svc.config import ProposalSettings
from proposal_svc.main import create_app as proposal_app
from services_dev.localrt.postgres import EmbeddedPostgres
from services_dev.testing.plugin import clone_database, migrated_template
from services_dev.testing.servers import free_port
from vote_svc.bootstrap import bootstrap as vote_bootstrap
from vote_svc.config import VoteSettings
from vote_svc.main import create_app as vote_app

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("identity", "proposal", "vote", "ledger", "notify")
#: The staff token's roles (a sandbox persona holds at most four): between them they reach every
#: staff route but the committee's adoption.
STAFF_ROLES = ["admin", "mayor_office", "department", "moderator"]


def migrations(service: str) -> Path:
    return ROOT / f"{service}-svc" / "src" / f"{service}_svc" / "migrations"


@dataclass
class Served:
    """One service's app served by uvicorn in a thread of this process."""

    name: str
    url: str
    server: uvicorn.Server
    thread: threading.Thread


@dataclass
class Platform:
    """The five services, and the access tokens the fuzz cases send."""

    served: dict[str, Served] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return self.served[service].url


def _serve(name: str, app: FastAPI) -> Served:
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"fuzz-{name}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{name}-svc did not start")
        time.sleep(0.05)
    return Served(name, f"http://127.0.0.1:{port}", server, thread)


def _sign_in(identity_url: str, seed: str, roles: list[str], department: str | None = None) -> str:
    with httpx.Client(base_url=identity_url, trust_env=False, timeout=30) as client:
        started = client.post("/v1/identity/verifications", json={"provider": "sandbox"})
        started.raise_for_status()
        persona = {
            "name": "시민",
            "birthdate": "1985-04-01",
            "phone": "010-1111-2222",
            "ci_seed": seed,
            "roles": roles,
            "department": department,
        }
        done = client.post(
            f"/v1/identity/verifications/{started.json()['verification_id']}/complete",
            json={"persona": persona},
        )
        done.raise_for_status()
        token: str = done.json()["access_token"]
        return token


def _apps(
    common: dict[str, Any], databases: dict[str, str], platform: Platform
) -> dict[str, Callable[[], FastAPI]]:
    """How to build each service but identity-svc (in this order: vote-svc asks proposal-svc)."""
    identity_url = platform.url("identity")
    jwks: dict[str, Any] = {
        "jwks_url": f"{identity_url}/.well-known/jwks.json",
        "identity_url": identity_url,
    }
    return {
        "proposal": lambda: proposal_app(
            proposal_bootstrap(
                ProposalSettings(**common, **jwks, database_url=databases["proposal"])
            )
        ),
        "vote": lambda: vote_app(
            vote_bootstrap(
                VoteSettings(
                    **common,
                    **jwks,
                    proposal_url=platform.url("proposal"),
                    database_url=databases["vote"],
                )
            )
        ),
        "ledger": lambda: ledger_app(
            ledger_bootstrap(
                LedgerSettings(**common, **jwks, backend="local", database_url=databases["ledger"])
            )
        ),
        "notify": lambda: notify_app(
            notify_bootstrap(NotifySettings(**common, **jwks, database_url=databases["notify"]))
        ),
    }


@contextmanager
def running_platform(pg: EmbeddedPostgres, nats_url: str) -> Iterator[Platform]:
    """Migrate a database per service, serve the five apps, sign a citizen and a staff member
    in; stop everything afterwards."""
    databases = {
        name: asyncio.run(
            clone_database(pg, migrated_template(pg, f"fuzz_{name}", migrations(name)))
        )
        for name in SERVICES
    }
    common: dict[str, Any] = {
        "environment": "test",
        "nats_url": nats_url,
        # Fuzz cases come one at a time; never refuse one for a busy machine.
        "max_queue_seconds": 60,
    }
    platform = Platform()
    try:
        identity = IdentitySettings(
            **common, database_url=databases["identity"], sandbox_roles=True
        )
        platform.served["identity"] = _serve("identity", identity_app(identity_bootstrap(identity)))
        identity_url = platform.url("identity")
        for name, build in _apps(common, databases, platform).items():
            platform.served[name] = _serve(name, build())
        platform.tokens["citizen"] = _sign_in(identity_url, "fuzz-citizen", [])
        platform.tokens["staff"] = _sign_in(identity_url, "fuzz-staff", STAFF_ROLES, "교통실")
        yield platform
    finally:
        for served in platform.served.values():
            served.server.should_exit = True
        for served in platform.served.values():
            served.thread.join(timeout=30)
