"""What the rate limits and the integrity signals cost the agreement hot path, in CPU per cast
(this process's and its PostgreSQL backend's), not collected by ``make test``. Run:

    uv run --frozen pytest vote-svc/tests/bench_hot_path_cost.py -q -s -p no:cacheprovider

Four configurations, alternating in order every round (a shared machine's load drifts): no
limits and no signals (as before issue 13), signals only, limits only, both. Sequential casts on
a pool of one connection, so the backend's CPU (``/proc/<pid>/stat``) is the statements'.
Results: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta

from vote_helpers import Sessions, open_proposal

from services.client import ClientInfo
from services.db import create_engine, create_sessionmaker, driver_connection
from services.ratelimit import RateRule
from vote_svc.bootstrap import bootstrap
from vote_svc.config import VoteSettings
from vote_svc.hot_path import BallotBox, cast_agreement
from vote_svc.integrity.limits import Caster

CASTS = 800
ROUNDS = 2
#: Limits that count on every cast and never refuse.
NEVER = {
    "citizen_rate_limits": [
        RateRule(limit=10**8, seconds=60),
        RateRule(limit=10**9, seconds=86400),
    ],
    "network_rate_limits": [RateRule(limit=10**8, seconds=60, sliding=True)],
}


async def test_cpu_per_cast(sessions: Sessions, vote_settings: VoteSettings) -> None:
    plain = vote_settings.model_copy(update={"citizen_rate_limits": [], "network_rate_limits": []})
    limited = vote_settings.model_copy(update=NEVER)
    configs = [("none", plain, False), ("signals", plain, True), ("limits", limited, False)]
    configs.append(("both", limited, True))
    engine = create_engine(vote_settings.database_url, pool_size=1, max_overflow=0)
    async with driver_connection(engine) as driver:
        backend = await driver.fetchval("SELECT pg_backend_pid()")
    tick = os.sysconf("SC_CLK_TCK")

    def backend_cpu() -> float:
        with open(f"/proc/{backend}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    since = datetime.now(UTC) - timedelta(days=3)
    results: dict[str, list[float]] = {name: [] for name, _, _ in configs}
    try:
        for r in range(ROUNDS):
            for name, settings, signals in configs if r % 2 == 0 else configs[::-1]:
                box = BallotBox(bootstrap(settings), engine, create_sessionmaker(engine))
                proposal_id = await open_proposal(sessions)
                own, pg = time.process_time(), backend_cpu()
                for i in range(CASTS):
                    client = ClientInfo(f"203.0.{i % 250}.0/24", "Mozilla/5.0 bench")
                    caster = Caster(client, since, 35) if signals else None
                    await cast_agreement(box, uuid.uuid4(), proposal_id=proposal_id, caster=caster)
                own = (time.process_time() - own) / CASTS * 1e3
                pg = (backend_cpu() - pg) / CASTS * 1e3
                results[name].append(own + pg)
                print(f"round {r} {name}: {own:.2f} ms python + {pg:.2f} ms postgres")  # noqa: T201
    finally:
        await engine.dispose()
    print({name: [round(v, 2) for v in values] for name, values in results.items()})  # noqa: T201
