"""Agreement benchmark: agreements/s through Caddy on the whole platform, against the least a
FastAPI app can do per request (one raw asyncpg INSERT), in the same run on the same database.

Run with ``python tests/bench/bench_agreements.py`` (``make bench`` runs it after the foundation
benchmark). It

1. starts the platform exactly as ``make run`` does (``python -m services_dev.localrt.run``, through
   tests/e2e/e2e_runtime.py) on free ports with its own temporary data directory;
2. signs in ``--citizens`` sandbox citizens through :8000 (their access tokens), and has them
   propose ``--proposals`` proposals plus one *hot* proposal, waiting until vote-svc knows each
   one is open;
3. starts the baseline (bench_baseline_app.py, one uvicorn worker, its own database on the
   platform's PostgreSQL) and a Caddy in front of it configured like the platform's;
4. offers agreements open-loop at fixed rates (bench_loadgen.py, a process of its own), each
   request a distinct citizen-proposal pair so that every answer is a 201; then the hot
   proposal alone (every agreement updates one tally row); then a step at the knee under
   py-spy; then the same rates against the baseline, directly and through its Caddy;
5. writes the figures to docs/BENCHMARKS.md (between the ``agreements`` markers) and the profile
   to docs/performance.md (between the ``profile`` markers).

Before each step it waits until the platform is quiet again (relays and consumers have caught
up), and after each step it records the CPU time every process used during the window (psutil),
the machine's CPU used by processes that are not ours, and the backlog left behind (vote-svc's
unsent outbox rows, NATS consumers' pending messages). A step is *sustained* when at least 97 %
of the offered rate was answered 201 within the window and nothing failed; the *knee* is the
highest sustained offered rate. Nothing here asserts a time: figures are measured and recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import asyncpg
import httpx
import psutil  # type: ignore[import-untyped]

ROOT: Final = Path(__file__).resolve().parents[2]
BENCH_DIR: Final = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from bench_report import BENCHMARKS_HEADER, replace_section  # noqa: E402
from e2e_runtime import SERVICES, Runtime  # noqa: E402

from services_dev.testing.servers import free_port, postgres_data_dir  # noqa: E402

REPORT: Final = ROOT / "docs" / "BENCHMARKS.md"
PERFORMANCE: Final = ROOT / "docs" / "performance.md"
MARK_BEGIN: Final = "<!-- agreements:begin -->"
MARK_END: Final = "<!-- agreements:end -->"
PROFILE_BEGIN: Final = "<!-- profile:begin -->"
PROFILE_END: Final = "<!-- profile:end -->"
AGREEMENTS_PATH: Final = "/v1/votes/agreements"
#: Share of the offered rate that must be answered within the window for a step to count.
SUSTAINED_SHARE: Final = 0.97
#: A step answering less than this share of its offered rate ends the sweep (past the knee).
SATURATED_SHARE: Final = 0.90
#: The platform is quiet when its processes use less than this (percent of one core).
QUIET_CPU_PERCENT: Final = 25.0
QUIET_TIMEOUT: Final = 30.0
#: Before each sweep: wait until other processes use less than this, for at most that long.
MACHINE_QUIET_CPU_PERCENT: Final = 20.0
MACHINE_QUIET_TIMEOUT: Final = 20.0
#: A sweep step during which other processes used more than this is run again (up to RETRIES).
DISTURBED_CPU_PERCENT: Final = 30.0
RETRIES: Final = 3
SIGN_IN_CONCURRENCY: Final = 32
WARM_UP_RATE: Final = 100
SHELLS: Final = frozenset({"sh", "bash", "dash"})
#: Processes profiled with py-spy during the profile step at the platform's knee.
PROFILED: Final = ("vote-api", "proposal-consume")
PROFILE_HZ: Final = 200
#: The profile step runs at this share of the platform's knee.
PROFILE_SHARE: Final = 0.8


def say(message: str) -> None:
    print(message, flush=True)  # noqa: T201


# --- processes and their CPU ---------------------------------------------------------------


_SVC_API = re.compile(r"(\w+)_svc\.main")
_SVC_CLI = re.compile(r"/(\w+)-svc\s+(\w+)")


def process_group(proc: psutil.Process) -> str:
    """A short name for one process of the run (what the CPU table is grouped by)."""
    args = proc.cmdline()
    line = " ".join(args)
    words = line.split()
    if words and words[0] == "postgres:":
        # A backend's title is "postgres: <user> <database> <host>(<port>) <state>".
        if len(words) >= 4 and "(" in words[3]:
            return f"postgres ({words[2]})"
        return "postgres (server)"
    if proc.name() == "postgres" or (args and Path(args[0]).name == "postgres"):
        return "postgres (server)"
    if "bench_baseline_app" in line:
        return "baseline-api"
    if "bench_loadgen" in line:
        return "load generator"
    if "bench_agreements" in line:
        return "bench orchestrator"
    if "caddy" in proc.name() or (args and Path(args[0]).name == "caddy"):
        return "baseline-caddy" if "baseline" in line else "caddy"
    if "nats-server" in line:
        return "nats"
    if "py-spy" in line:
        return "py-spy"
    if match := _SVC_API.search(line):
        return f"{match.group(1)}-api"
    if match := _SVC_CLI.search(line):
        return f"{match.group(1)}-{match.group(2)}"
    if "honcho" in line:
        return "honcho"
    if "services_dev.localrt.run" in line:
        return "launcher"
    return str(proc.name())


class CpuMeter:
    """CPU time of this process and every descendant (the platform, the baseline, the load
    generator, py-spy), grouped by :func:`process_group`, plus the whole machine's."""

    def __init__(self) -> None:
        self._groups: dict[tuple[int, float], str] = {}

    def _procs(self) -> Iterator[psutil.Process]:
        me = psutil.Process()
        yield me
        yield from me.children(recursive=True)

    def snapshot(self) -> tuple[float, dict[tuple[int, float], float], float]:
        """(wall clock, CPU seconds per process, the machine's busy CPU seconds)."""
        times: dict[tuple[int, float], float] = {}
        for proc in self._procs():
            try:
                key = (proc.pid, proc.create_time())
                if key not in self._groups:
                    group = process_group(proc)
                    self._groups[key] = group
                    # CPU of children that ended and were reaped (PostgreSQL backends of closed
                    # connections above all) is counted in their parent's children_* times.
                    self._groups[(-proc.pid, key[1])] = (
                        "postgres (closed connections)"
                        if group == "postgres (server)"
                        else "py-spy"  # ended during the step it profiled
                        if group == "bench orchestrator"
                        else f"{group} (ended children)"
                    )
                cpu = proc.cpu_times()
                times[key] = cpu.user + cpu.system
                times[(-proc.pid, key[1])] = cpu.children_user + cpu.children_system
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
        machine = psutil.cpu_times()
        # guest time is already counted in user time; iowait is idle.
        busy = (
            sum(machine)
            - machine.idle
            - sum(getattr(machine, name, 0.0) for name in ("iowait", "guest", "guest_nice"))
        )
        return time.monotonic(), times, busy

    def usage(
        self,
        before: tuple[float, dict[tuple[int, float], float], float],
        after: tuple[float, dict[tuple[int, float], float], float],
    ) -> tuple[dict[str, float], float]:
        """Percent of one core per group between two snapshots, and the machine's busy percent
        spent outside our processes."""
        wall = max(1e-9, after[0] - before[0])
        groups: dict[str, float] = {}
        for key, cpu in after[1].items():
            group = self._groups[key]
            groups[group] = groups.get(group, 0.0) + cpu - before[1].get(key, 0.0)
        ours = sum(groups.values())
        percent = {
            name: 100 * value / wall
            for name, value in sorted(groups.items(), key=lambda item: -item[1])
            if value > 0
        }
        foreign = 100 * max(0.0, (after[2] - before[2]) - ours) / wall
        return percent, foreign


# --- the platform and the baseline ---------------------------------------------------------


class Platform:
    """The running platform (launcher) plus the baseline app and its Caddy."""

    def __init__(self, runtime: Runtime, work: Path) -> None:
        self.runtime = runtime
        self.work = work
        self.baseline_port = free_port()
        self.baseline_caddy_port = free_port()
        self.baseline: subprocess.Popen[bytes] | None = None
        self.baseline_caddy: subprocess.Popen[bytes] | None = None

    @property
    def pg_port(self) -> int:
        return self.runtime.ports["PLATFORM_PG_PORT"]

    @property
    def http_port(self) -> int:
        return self.runtime.ports["PLATFORM_HTTP_PORT"]

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/{database}"

    def pid_of(self, group: str) -> int | None:
        """The pid of the (first) process of a group, e.g. ``vote-api``."""
        for proc in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                # honcho starts each command through ``sh -c``: skip the shell.
                if proc.name() not in SHELLS and process_group(proc) == group:
                    return int(proc.pid)
        return None

    async def start_baseline(self) -> None:
        """Create the baseline's database, start its app (which creates its table) and its
        Caddy, and wait until both answer."""
        conn = await asyncpg.connect(self.dsn("postgres"))
        try:
            await conn.execute("CREATE DATABASE bench_baseline")
        finally:
            await conn.close()
        self._spawn_baseline()
        async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
            for port in (self.baseline_port, self.baseline_caddy_port):
                url = f"http://127.0.0.1:{port}/healthz"
                await until(f"the baseline at {url}", functools.partial(_ok, client, url), 60.0)

    def _spawn_baseline(self) -> None:
        env = {**os.environ, "BENCH_BASELINE_DSN": self.dsn("bench_baseline")}
        log = (self.work / "baseline.log").open("ab")
        self.baseline = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "bench_baseline_app:create_app", "--factory"),
                *("--app-dir", str(BENCH_DIR), "--host", "127.0.0.1"),
                *("--port", str(self.baseline_port), "--no-access-log"),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        caddyfile = self.work / "baseline.Caddyfile"
        caddyfile.write_text(
            _baseline_caddyfile(self.work, self.baseline_caddy_port, self.baseline_port)
        )
        caddy = Path(sys.executable).parent / "caddy"
        self.baseline_caddy = subprocess.Popen(
            [str(caddy), "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
            env={**os.environ, "HOME": str(self.work)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop_baseline(self) -> None:
        for proc in (self.baseline_caddy, self.baseline):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _baseline_caddyfile(work: Path, port: int, upstream: int) -> str:
    """A Caddy in front of the baseline with the global options, request-id header and
    upstream settings of deploy/local/Caddyfile."""
    return f"""{{
	admin off
	auto_https off
	persist_config off
	storage file_system {work}/caddy-baseline
	log {{
		output stderr
		format console
		level WARN
	}}
	servers {{
		protocols h1
	}}
}}

http://:{port} {{
	bind 127.0.0.1
	request_body {{
		max_size 8MB
	}}
	@no_request_id not header X-Request-ID *
	request_header @no_request_id X-Request-ID {{http.request.uuid}}
	reverse_proxy 127.0.0.1:{upstream} {{
		transport http {{
			dial_timeout 3s
			response_header_timeout 60s
			keepalive 4s
		}}
		flush_interval -1
	}}
}}
"""


async def _ok(client: httpx.AsyncClient, url: str) -> bool:
    try:
        return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


async def until(what: str, check: Callable[[], Awaitable[bool]], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"timed out after {within:.0f}s waiting for {what}")


#: Rate limits that count every agreement and refuse none (``platform_running``).
BENCH_RATE_LIMITS = {
    "VOTE_CITIZEN_RATE_LIMITS": '[{"limit": 1000000000, "seconds": 60}, '
    '{"limit": 1000000000, "seconds": 86400}]',
}


@contextlib.contextmanager
def platform_running(work: Path) -> Iterator[Runtime]:
    """The platform as ``make run`` runs it, on free ports, stopped (SIGINT) afterwards."""
    ports = {
        "PLATFORM_HTTP_PORT": free_port(),
        "PLATFORM_PG_PORT": free_port(),
        "PLATFORM_NATS_PORT": free_port(),
        "PLATFORM_NATS_MONITOR_PORT": free_port(),
        **{f"{name.upper()}_PORT": free_port() for name in SERVICES},
    }
    with postgres_data_dir(work / "data") as data_dir:
        runtime = Runtime(data_dir, ports, work / "launcher.log")
        # Each citizen agrees about once a second here, past the per-citizen limits of votes
        # (docs/abuse-limits.md): they still count on every agreement, so their cost is
        # measured, but never refuse (the per-network ones are off in the local runtime).
        runtime.extra_env.update(BENCH_RATE_LIMITS)
        try:
            runtime.start()
            with httpx.Client(trust_env=False, timeout=10.0) as client:
                runtime.wait_healthy(client)
                for name in SERVICES:
                    deadline = time.monotonic() + 60
                    while client.get(f"{runtime.service_url(name)}/readyz").status_code != 200:
                        if time.monotonic() > deadline:
                            raise TimeoutError(f"{name}-svc not ready")
                        time.sleep(0.25)
            yield runtime
        except BaseException:
            say(runtime.output())
            raise
        finally:
            if runtime.proc is not None and runtime.proc.poll() is None:
                try:
                    runtime.interrupt()
                finally:
                    runtime.kill()


# --- citizens and proposals ------------------------------------------------------------------


@dataclass
class Population:
    """Signed-in citizens and open proposals; the last proposal is the hot one."""

    tokens: list[str]
    proposals: list[str]
    sign_in_s: float
    propose_s: float

    @property
    def hot(self) -> int:
        return len(self.proposals) - 1


async def prepare(entry: str, citizens: int, proposals: int) -> Population:
    """Sign ``citizens`` in through the sandbox provider and have the first ``proposals + 1``
    of them propose; return once vote-svc accepts agreements on every proposal."""
    limits = httpx.Limits(max_connections=SIGN_IN_CONCURRENCY)
    async with httpx.AsyncClient(
        base_url=entry, timeout=60.0, limits=limits, trust_env=False
    ) as client:
        gate = asyncio.Semaphore(SIGN_IN_CONCURRENCY)

        async def sign_in(i: int) -> str:
            async with gate:
                started = await client.post(
                    "/v1/identity/verifications", json={"provider": "sandbox"}
                )
                assert started.status_code == 201, started.text
                done = await client.post(
                    f"/v1/identity/verifications/{started.json()['verification_id']}/complete",
                    json={
                        "persona": {
                            "name": "벤치",
                            "birthdate": "1990-01-01",
                            "phone": "010-0000-0000",
                            "ci_seed": f"bench-agreements-{i:06d}",
                        }
                    },
                )
                assert done.status_code == 200, done.text
                token: str = done.json()["access_token"]
                return token

        t0 = time.monotonic()
        tokens = await asyncio.gather(*(sign_in(i) for i in range(citizens)))
        sign_in_s = time.monotonic() - t0
        say(f"  {citizens} citizens signed in in {sign_in_s:.1f}s")

        async def propose(i: int) -> str:
            async with gate:
                created = await client.post(
                    "/v1/proposals",
                    headers={"Authorization": f"Bearer {tokens[i]}"},
                    json={
                        "title": f"벤치마크 제안 {i}번: 역 앞 따릉이 대여소를 늘려주세요",
                        "body": "출퇴근 시간에 대여소에 자전거가 없습니다. 거치대를 늘려주세요.",
                        "category": "transport",
                    },
                )
                assert created.status_code == 201, created.text
                proposal_id: str = created.json()["id"]
                return proposal_id

        t0 = time.monotonic()
        ids = await asyncio.gather(*(propose(i) for i in range(proposals + 1)))

        async def all_open() -> bool:
            answers = await asyncio.gather(
                *(client.get(f"/v1/votes/tallies/proposals/{pid}") for pid in ids)
            )
            return all(a.status_code == 200 for a in answers)

        await until("vote-svc to know every proposal is open", all_open, within=120.0)
        propose_s = time.monotonic() - t0
        say(f"  {proposals + 1} proposals open for agreements in {propose_s:.1f}s")
    return Population(list(tokens), list(ids), sign_in_s, propose_s)


class Pairs:
    """(citizen, proposal) pairs over the regular proposals, handed out in order so that
    consecutive requests go to different proposals. Distinct unless ``cycle`` (the baseline
    has no one-per-citizen rule, so it may reuse them)."""

    def __init__(self, citizens: int, proposals: int, *, cycle: bool = False) -> None:
        self.citizens = citizens
        self.proposals = proposals
        self.cycle = cycle
        self.next = 0

    @property
    def left(self) -> int:
        return sys.maxsize if self.cycle else self.citizens * self.proposals - self.next

    def take(self, n: int) -> list[tuple[int, int]]:
        if n > self.left:
            raise ValueError(f"only {self.left} citizen-proposal pairs left, {n} asked for")
        start, self.next = self.next, self.next + n
        size = self.citizens * self.proposals
        return [((i % size) // self.proposals, i % self.proposals) for i in range(start, self.next)]


# --- steps -----------------------------------------------------------------------------------

Snapshot = tuple[float, dict[tuple[int, float], float], float]


@dataclass
class Step:
    """One step of offered load and what it did."""

    target: str
    kind: str
    figures: dict[str, Any]
    cpu: dict[str, float]
    foreign_cpu: float
    backlog: dict[str, int]
    settle_s: float
    profiles: dict[str, Path] = field(default_factory=dict)

    @property
    def offered(self) -> float:
        return float(self.figures["offered_per_s"])

    @property
    def accepted(self) -> float:
        return float(self.figures["accepted_per_s"])

    @property
    def failed(self) -> int:
        return int(self.figures["errors"]) + int(self.figures["unanswered"])

    @property
    def sustained(self) -> bool:
        return self.accepted >= SUSTAINED_SHARE * self.offered and self.failed == 0

    @property
    def saturated(self) -> bool:
        return (
            self.accepted < SATURATED_SHARE * self.offered
            or self.failed > 0.01 * self.figures["scheduled"]
        )


@dataclass
class Bench:
    """The run: platform, population, and every step measured so far."""

    platform: Platform
    population: Population
    work: Path
    connections: int
    steps: list[Step] = field(default_factory=list)
    meter: CpuMeter = field(default_factory=CpuMeter)
    #: CPU per process of the quiet platform (percent of one core), measured before any load.
    idle_cpu: dict[str, float] = field(default_factory=dict)
    #: Steps disturbed by other work on the machine that may still be run again.
    retries: int = RETRIES
    #: Steps left out for lack of time.
    skipped: list[str] = field(default_factory=list)

    async def wait_machine_quiet(self) -> None:
        """Wait (a while) until processes that are not ours leave the machine mostly idle: a
        shared machine's other work would be measured as our slowness."""
        t0 = time.monotonic()
        foreign = 0.0
        while time.monotonic() - t0 < MACHINE_QUIET_TIMEOUT:
            before = self.meter.snapshot()
            await asyncio.sleep(1.0)
            _, foreign = self.meter.usage(before, self.meter.snapshot())
            if foreign < MACHINE_QUIET_CPU_PERCENT:
                return
        say(f"  the machine is busy with other work ({foreign:.0f} % of a core); going on")

    async def measure_idle(self, seconds: float = 3.0) -> None:
        await self.wait_quiet()
        before = self.meter.snapshot()
        await asyncio.sleep(seconds)
        self.idle_cpu, _ = self.meter.usage(before, self.meter.snapshot())
        say(f"  idle platform: {_cpu_list(self.idle_cpu)}")

    async def wait_quiet(self) -> float:
        """Wait until our processes are (nearly) idle again; how long it took."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < QUIET_TIMEOUT:
            before = self.meter.snapshot()
            await asyncio.sleep(0.5)
            cpu, _ = self.meter.usage(before, self.meter.snapshot())
            cpu.pop("bench orchestrator", None)
            if sum(cpu.values()) < QUIET_CPU_PERCENT:
                break
        return time.monotonic() - t0

    async def backlog(self) -> dict[str, int]:
        """vote-svc's unsent outbox rows and every durable NATS consumer's pending messages."""
        conn = await asyncpg.connect(self.platform.dsn("vote"))
        try:
            found = {
                "vote outbox unsent": int(
                    await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
                )
            }
        finally:
            await conn.close()
        monitor = f"http://127.0.0.1:{self.platform.runtime.ports['PLATFORM_NATS_MONITOR_PORT']}"
        async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
            jsz = (await client.get(f"{monitor}/jsz", params={"consumers": "true"})).json()
        for account in jsz.get("account_details", []):
            for stream in account.get("stream_detail", []):
                for consumer in stream.get("consumer_detail", []):
                    found[f"{consumer['name']} pending"] = int(
                        consumer.get("num_pending", 0)
                    ) + int(consumer.get("num_ack_pending", 0))
        return found

    async def step(
        self,
        *,
        target: str,
        kind: str,
        port: int,
        pairs: list[tuple[int, int]],
        rate: float,
        duration: float,
        profile: tuple[str, ...] = (),
    ) -> Step:
        settle_s = await self.wait_quiet()
        job = {
            "host": "127.0.0.1",
            "port": port,
            "path": AGREEMENTS_PATH,
            "connections": self.connections,
            "rate": rate,
            "duration": duration,
            "expect": 201,
            "tokens": self.population.tokens,
            "proposals": self.population.proposals,
            "pairs": pairs,
        }
        job_path = self.work / "job.json"
        job_path.write_text(json.dumps(job))
        generator = await asyncio.create_subprocess_exec(
            sys.executable,
            str(BENCH_DIR / "bench_loadgen.py"),
            str(job_path),
            stdout=asyncio.subprocess.PIPE,
        )
        assert generator.stdout is not None
        before: Snapshot | None = None
        after: Snapshot | None = None
        figures: dict[str, Any] | None = None
        spies: dict[str, tuple[asyncio.subprocess.Process, Path]] = {}
        async for raw in generator.stdout:
            line = raw.decode().strip()
            if line == "start":
                before = self.meter.snapshot()
                for group in profile:
                    started = await self.start_profiler(group, duration)
                    if started is not None:
                        spies[group] = started
            elif line == "end":
                after = self.meter.snapshot()
            elif line.startswith("result "):
                figures = json.loads(line.removeprefix("result "))
        if await generator.wait() != 0 or figures is None or before is None or after is None:
            raise RuntimeError(f"the load generator failed (exit code {generator.returncode})")
        profiles: dict[str, Path] = {}
        for group, (spy, out) in spies.items():
            if await spy.wait() == 0:
                profiles[group] = out
            else:
                say(f"  py-spy on {group} exited with {spy.returncode}; see {out}.log")
        cpu, foreign = self.meter.usage(before, after)
        step = Step(target, kind, figures, cpu, foreign, await self.backlog(), settle_s, profiles)
        self.steps.append(step)
        top = ", ".join(f"{name} {value:.0f}%" for name, value in list(cpu.items())[:5])
        say(
            f"  {target:<20} {kind:<8} offered {rate:>6.0f}/s  accepted {step.accepted:>7.1f}/s"
            f"  failed {step.failed:>5}  p50 {_ms(figures['p50_ms'])}  p99 {_ms(figures['p99_ms'])}"
            f"  gen {figures['generator_cpu_percent']:.0f}%  settle {settle_s:.1f}s  [{top}]"
        )
        return step

    async def start_profiler(
        self, group: str, duration: float
    ) -> tuple[asyncio.subprocess.Process, Path] | None:
        """py-spy on the (first) process of ``group`` for ``duration`` seconds, if available."""
        spy_bin = find_py_spy()
        pid = self.platform.pid_of(group)
        if spy_bin is None or pid is None:
            say(f"  no py-spy or no {group} process; not profiling it")
            return None
        out = self.work / f"profile-{group}.txt"
        with (self.work / f"profile-{group}.txt.log").open("wb") as log:
            spy = await asyncio.create_subprocess_exec(
                *(spy_bin, "record", "--pid", str(pid), "--rate", str(PROFILE_HZ)),
                *("--duration", str(round(duration)), "--format", "raw", "--output", str(out)),
                # Sample without stopping the process: the step's figures stay comparable.
                "--nonblocking",
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        return spy, out

    async def sweep(
        self,
        target: str,
        port: int,
        pairs: Pairs,
        plan: SweepPlan,
        profile_at: tuple[float, str] | None = None,
    ) -> list[Step]:
        """Warm up; the offered rates in order until one is past saturation (and, while the
        last one is still sustained, up to ``plan.extend`` more steps of +500/s); then up to
        ``plan.refine`` steps bisecting between the knee and the next rate. A step disturbed by
        other work on the machine is run again (at most :data:`RETRIES` times in a run).
        ``profile_at`` (rate, group): profile that process during the step at that rate."""
        await self.step(
            target=target,
            kind="warm-up",
            port=port,
            pairs=pairs.take(WARM_UP_RATE * 3),
            rate=WARM_UP_RATE,
            duration=3,
        )
        done: list[Step] = []

        async def one(rate: float) -> Step | None:
            if rate * plan.duration > pairs.left:
                say(f"  not enough citizen-proposal pairs left for {rate:.0f}/s")
                return None
            if time.monotonic() > plan.deadline:
                say(f"  out of time budget; no step at {rate:.0f}/s")
                self.skipped.append(f"{target} at {rate:,.0f}/s")
                return None
            await self.wait_machine_quiet()
            step = await self.step(
                target=target,
                kind="sweep",
                port=port,
                pairs=pairs.take(int(rate * plan.duration)),
                rate=rate,
                duration=plan.duration,
                profile=(profile_at[1],) if profile_at and profile_at[0] == rate else (),
            )
            if step.foreign_cpu > DISTURBED_CPU_PERCENT and self.retries > 0:
                self.retries -= 1
                step.kind = "disturbed"
                say(f"  disturbed by other work ({step.foreign_cpu:.0f} % of a core); again")
                return await one(rate)
            done.append(step)
            return step

        queue = list(plan.rates)
        extend = plan.extend
        while queue:
            step = await one(queue.pop(0))
            if step is None or step.saturated:
                break
            if not queue and step.sustained and extend > 0:
                extend -= 1
                queue.append(step.offered + 500)
        for _ in range(plan.refine):
            best = knee(done)
            low = best.offered if best else 0.0
            above = [s.offered for s in done if s.offered > low]
            if not above:
                break
            high = min(above)
            rate = round((low + high) / 2 / 25) * 25
            if high - low <= 50 or rate in {s.offered for s in done}:
                break
            if await one(rate) is None:
                break
        done.sort(key=lambda s: s.offered)
        return done


@dataclass(frozen=True)
class SweepPlan:
    """The offered rates of a sweep and its limits."""

    rates: list[float]
    duration: float
    extend: int
    refine: int
    deadline: float


def find_py_spy() -> str | None:
    """py-spy next to this interpreter (the venv) or on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _ms(value: float | None) -> str:
    return "lost" if value is None else f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def knee(steps: list[Step]) -> Step | None:
    """The sustained step with the highest offered rate."""
    sustained = [s for s in steps if s.sustained]
    return max(sustained, key=lambda s: s.offered) if sustained else None


# --- where the CPU goes (py-spy raw output) --------------------------------------------------

#: Layers of a request, each sample charged to the innermost frame that belongs to one.
LAYERS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("token verification (services.auth, PyJWT, cryptography)", ("/jwt/", "services/auth.py")),
    (
        "vote-svc's own work (voter tag, canonical record, hash, CloudEvents envelopes)",
        ("vote_svc/", "services/canonical.py", "services/events/"),
    ),
    ("asyncpg driver", ("/asyncpg/",)),
    ("SQLAlchemy (session, pool checkout and pre-ping, commit)", ("/sqlalchemy/",)),
    ("pydantic (request validation, response serialisation)", ("/pydantic/", "/pydantic_core/")),
    (
        "platform middleware (request id + logging context, body limit, problems, metrics)",
        (
            "services/observability.py",
            "services/problems.py",
            "services/db.py",
            "/prometheus_client/",
        ),
    ),
    ("FastAPI / Starlette (routing, dependencies, responses)", ("/fastapi/", "/starlette/")),
    ("uvicorn HTTP protocol (httptools)", ("/uvicorn/",)),
    ("logging", ("/logging/",)),
    ("proposal-svc's own work", ("proposal_svc/",)),
    (
        "consumer runner, inbox, outbox relay (services)",
        ("services/consumer.py", "services/worker.py", "services/outbox.py"),
    ),
    ("NATS client", ("/nats/",)),
    (
        "thread-pool hop of a sync dependency (anyio, threading)",
        ("/anyio/", "starlette/concurrency.py", "/threading.py"),
    ),
    ("event loop (asyncio, uvloop)", ("/asyncio/", "uvloop")),
)
#: Samples whose innermost frame is one of these are a thread waiting, not CPU: worker threads
#: parked on their queue, and the event loop inside uvloop's C code with no Python frame above
#: (polling, and the socket I/O it does itself).
IDLE_LEAVES: Final = (
    "Condition.wait (threading.py)",
    "Runner.run (asyncio/runners.py)",
    "EpollSelector.select (selectors.py)",
)
#: Calls the analysis in docs/performance.md refers to: (label, function name as py-spy shows it).
KEY_CALLS: Final[tuple[tuple[str, str], ...]] = (
    ("pool checkout (`AsyncSession.connection`)", "AsyncSession.connection ("),
    ("pre-ping on checkout (`BEGIN; ; ROLLBACK`)", "AsyncAdapt_asyncpg_connection._async_ping ("),
    ("new PostgreSQL connections", "AsyncAdapt_dbapi_connection.create ("),
    ("sync dependency in the thread pool (`run_in_threadpool`)", "run_in_threadpool ("),
    ("token verification (`TokenVerifier.verify`)", "TokenVerifier.verify ("),
    ("the cast (`_try_cast`: record, envelopes, the statement)", "_try_cast ("),
    ("the statement itself (`Connection.fetchval`)", "Connection.fetchval ("),
    ("CloudEvents envelopes (`to_envelope`)", "to_envelope ("),
    ("session commit and close", "AsyncSession.commit ("),
    ("response validation and serialisation", "serialize_response ("),
    ("writing the response (`RequestResponseCycle.send`)", "RequestResponseCycle.send ("),
    ("applying a tally (`apply_proposal_tally`)", "apply_proposal_tally ("),
    ("acking messages (`Msg.ack`)", "Msg.ack ("),
    ("SQLAlchemy statement caching (`_generate_cache_key`)", "_generate_cache_key ("),
)
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*):(?P<line>\d+)\)$")


#: Frames on (nearly) every stack say nothing about where the time goes: the server's entry,
#: the event loop, the middleware chain and the router.
WRAPPERS: Final = (
    "click/",
    "runpy",
    "uvicorn/main.py",
    "uvicorn/server.py",
    "uvicorn/_compat.py",
    "uvicorn/middleware/",
    "asyncio/runners.py",
    "asyncio/base_events.py",
    "asyncio/events.py",
    "services/cli.py",
    "services/observability.py",
    "services/problems.py",
    "starlette/applications.py",
    "starlette/middleware/",
    "starlette/_exception_handler.py",
    "starlette/routing.py",
    "fastapi/applications.py",
    "fastapi/middleware/",
    "fastapi/_body_limit.py",
    "fastapi/telemetry/",
    "fastapi/routing.py",
)


def _wrapper(func: str, file: str) -> bool:
    return func == "<module>" or any(w in file for w in WRAPPERS) or func.endswith(".run_asgi")


def _short(file: str) -> str:
    for marker in ("site-packages/", "/src/", "/lib/python3.11/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def analyse_profile(path: Path) -> dict[str, Any]:
    """Samples per layer, the hottest functions (self time) and the costliest calls (inclusive),
    as shares of the process's busy samples (every thread; :data:`IDLE_LEAVES` left out)."""
    layers: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    busy = idle = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = []
        for raw in stack.split(";"):
            match = _FRAME.match(raw)
            frames.append((match["func"], match["file"]) if match else (raw, ""))
        func, file = frames[-1]
        leaf = f"{func} ({_short(file)})"
        if leaf in IDLE_LEAVES:
            idle += count
            continue
        busy += count
        own[leaf] += count
        for name in {f"{f} ({_short(p)})" for f, p in frames if not _wrapper(f, p)}:
            inclusive[name] += count
        layer = "other (stdlib called from the layers above, interpreter)"
        for _, file in reversed(frames):
            where = "/" + file  # py-spy names files relative to their sys.path entry
            found = next((n for n, keys in LAYERS if any(k in where for k in keys)), None)
            if found is not None:
                layer = found
                break
        layers[layer] += count

    def shares(counter: Counter[str], n: int, below: float = 1.01) -> list[tuple[str, float]]:
        total = max(1, busy)
        items = [(k, v / total) for k, v in counter.most_common() if v / total < below]
        return items[:n]

    every: Counter[str] = Counter()
    for name, count in inclusive.items():
        for label, func in KEY_CALLS:
            if name.startswith(func):
                every[label] += count
    return {
        "key": [(label, every[label] / max(1, busy)) for label, _ in KEY_CALLS if every[label]],
        "samples": busy,
        "idle_samples": idle,
        "layers": shares(layers, len(LAYERS) + 1),
        "self": shares(own, 15),
        "inclusive": shares(inclusive, 20),
    }


# --- reports ---------------------------------------------------------------------------------


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def _cpu_list(cpu: dict[str, float], n: int = 6) -> str:
    skip = {"bench orchestrator", "load generator", "py-spy"}
    return (
        ", ".join(f"{k} {v:.0f}" for k, v in cpu.items() if k not in skip and v >= 1)[:400]
        if n
        else ""
    )


def _system_cpu(cpu: dict[str, float], groups: tuple[str, ...]) -> float:
    """CPU (percent of one core) of the processes of the system under test."""
    return sum(v for k, v in cpu.items() if any(k.startswith(g) for g in groups))


PLATFORM_GROUPS: Final = (
    "caddy",
    "postgres (server)",
    "postgres (closed connections)",
    *(f"postgres ({name})" for name in SERVICES),
    "nats",
    "honcho",
    "launcher",
    *(f"{name}-" for name in SERVICES),
)
BASELINE_GROUPS: Final = (
    "baseline-api",
    "postgres (bench_baseline)",
    "postgres (server)",
    "postgres (closed connections)",
)


def _row(step: Step) -> str:
    f = step.figures
    return (
        f"| {step.target} | {_rate(step.offered)} | {_rate(step.accepted)} | {step.failed} "
        f"| {_ms(f['p50_ms'])} | {_ms(f['p99_ms'])} | {f['generator_cpu_percent']:.0f} % "
        f"| {step.foreign_cpu:.0f} % | {_cpu_list(step.cpu)} |"
    )


def write_report(command: str, bench: Bench, args: argparse.Namespace, wall_s: float) -> None:
    steps = bench.steps
    sweeps = {
        target: sorted(
            (s for s in steps if s.target == target and s.kind == "sweep"), key=lambda s: s.offered
        )
        for target in ("platform", "baseline", "baseline via Caddy")
    }
    knees = {target: knee(found) for target, found in sweeps.items()}
    caps = {t: max((s.accepted for s in found), default=0.0) for t, found in sweeps.items()}
    pk, bk, ck = knees["platform"], knees["baseline"], knees["baseline via Caddy"]
    hot = next((s for s in steps if s.kind == "hot"), None)
    in_slo = [
        s
        for s in sweeps["platform"]
        if s.sustained and s.figures["p99_ms"] is not None and s.figures["p99_ms"] <= 50
    ]
    slo = max(in_slo, key=lambda s: s.offered) if in_slo else None
    ratio = pk.offered / bk.offered if pk and bk else None
    ratio_caddy = pk.offered / ck.offered if pk and ck else None

    def bound(target: str) -> str:
        """ ">= " when even the highest rate tried was sustained (the knee is above it)."""
        found, at = sweeps[target], knees[target]
        return ">= " if at is not None and at.offered >= max(s.offered for s in found) else ""

    def knee_text(target: str, what: str) -> str:
        step = knees[target]
        if step is None:
            return f"no sustained step ({what})"
        f = step.figures
        return (
            f"**{bound(target)}{_rate(step.offered)} {what}/s** "
            f"(p50 {_ms(f['p50_ms'])}, p99 {_ms(f['p99_ms'])})"
        )

    def ratio_text(value: float | None, target: str) -> str:
        if value is None:
            return "n/a"
        return ("<= " if bound(target) else "") + f"{value:.2f}"

    def cost(step: Step | None, groups: tuple[str, ...]) -> str:
        if step is None or step.accepted <= 0:
            return "n/a"
        idle = _system_cpu(bench.idle_cpu, groups)
        return f"{10 * (_system_cpu(step.cpu, groups) - idle) / step.accepted:.2f} ms"

    verdicts = [
        ">= 1,000 agreements/s with p99 <= 50 ms: "
        + (
            f"**met** (up to {_rate(slo.offered)}/s)"
            if slo and slo.offered >= 1000
            else "**not met**"
            + (
                f" (p99 <= 50 ms up to {_rate(slo.offered)}/s)"
                if slo
                else " (no sustained step had p99 <= 50 ms)"
            )
        ),
        "ratio >= 0.6: "
        + (
            "n/a"
            if ratio is None
            else f"**{'met' if ratio >= 0.6 else 'not met'}** ({ratio_text(ratio, 'baseline')})"
        ),
    ]
    lines = [
        MARK_BEGIN,
        "## Agreements: the whole platform against one asyncpg INSERT",
        "",
        f"Command: `{command}` — run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}, {wall_s:.0f} s in all. The platform runs as `make run` "
        "runs it (`python -m services_dev.localrt.run`: Caddy on the entry port, five APIs as one "
        "uvicorn worker each, relays, consumers, PostgreSQL and NATS from the embedded wheels); "
        f"{len(bench.population.tokens):,} sandbox citizens signed in through the entry port "
        f"({bench.population.sign_in_s:.0f} s), {len(bench.population.proposals) - 1} open "
        "proposals plus one hot one. The baseline is tests/bench/bench_baseline_app.py: FastAPI, "
        "one uvicorn worker, a pydantic body and one raw asyncpg `INSERT` per request into a "
        "table of its own, in a database of its own on the same PostgreSQL, hit directly and "
        "through a Caddy configured like the platform's. Load: tests/bench/bench_loadgen.py, a "
        f"process of its own on the same machine (uvloop, {args.connections} keep-alive "
        "connections driven by asyncio protocol callbacks), **open loop**: request *i* is scheduled at "
        "*t0 + i/rate* and its latency is measured from that time, queueing in the client "
        f"included. Steps of {args.step_seconds:g} s (after a 3 s warm-up per target), each "
        "request a distinct citizen-proposal pair (all answers 201); a step is *sustained* "
        f"when >= {SUSTAINED_SHARE:.0%} of the offered rate is answered 201 within it with no "
        "failure, and the *knee* is the highest sustained rate. The next step starts when "
        "the relays and consumers have caught up.",
        "",
        "| target | offered/s | accepted/s | failed | p50 | p99 | generator CPU | CPU not ours | "
        "CPU per process (% of one core) |",
        "|---|---|---|---|---|---|---|---|---|",
        *(_row(s) for found in sweeps.values() for s in found),
        *([_row(hot).replace("| platform |", "| platform, one hot proposal |", 1)] if hot else []),
        "",
        f"- Knee through the entry port: {knee_text('platform', 'agreements')}; baseline "
        f"{knee_text('baseline', 'inserts')} directly, "
        f"{knee_text('baseline via Caddy', 'inserts')} through its Caddy.",
        f"- **Ratio (platform knee ÷ baseline knee): {ratio_text(ratio, 'baseline')}**; like for "
        f"like, both through Caddy: {ratio_text(ratio_caddy, 'baseline via Caddy')}. Highest "
        f"accepted rates: platform {_rate(caps['platform'])}/s, baseline "
        f"{_rate(caps['baseline'])}/s, through Caddy {_rate(caps['baseline via Caddy'])}/s.",
        f"- Targets of issue 3: {'; '.join(verdicts)}.",
        f"- CPU per request at the knee (every process of the system under test, less what it "
        f"uses idle): platform {cost(pk, PLATFORM_GROUPS)} per agreement, baseline "
        f"{cost(bk, BASELINE_GROUPS)} per insert; {os.cpu_count()} cores give "
        f"{1000 * (os.cpu_count() or 1):,} ms per second. The idle platform uses "
        f"{_system_cpu(bench.idle_cpu, PLATFORM_GROUPS):.0f} % of a core"
        + (f" ({idle})." if (idle := _cpu_list(bench.idle_cpu)) else "."),
    ]
    if hot is not None:
        lines.append(
            f"- One hot proposal (every agreement updates the same tally row): "
            f"{_rate(hot.offered)}/s offered for {hot.figures['duration_s']:.1f} s, "
            f"{_rate(hot.accepted)}/s accepted, p50 {_ms(hot.figures['p50_ms'])}, "
            f"p99 {_ms(hot.figures['p99_ms'])}, {hot.failed} failed."
        )
    if pk is not None:
        left = ", ".join(f"{k} {v:,}" for k, v in pk.backlog.items() if v)
        lines.append(
            f"- Left behind by the knee step: {left or 'nothing'} "
            f"(the next step waited {_next_settle(steps, pk):.1f} s for the platform to be "
            "quiet). Where the CPU goes: docs/performance.md."
        )
    measured = [s for found in sweeps.values() for s in found]
    disturbed = [s for s in steps if s.kind == "disturbed"]
    busy = max(measured, key=lambda s: s.foreign_cpu, default=None)
    if busy is not None and busy.foreign_cpu > DISTURBED_CPU_PERCENT:
        lines.append(
            f"- **Warning: other work on the machine disturbed this run** (up to "
            f"{busy.foreign_cpu:.0f} % of a core during a measured step, after the retries): "
            "its figures understate the platform and the baseline."
        )
    lines.append(
        "- The machine was shared: *CPU not ours* is what other processes used during a step "
        f"(at most {busy.foreign_cpu if busy else 0:.0f} % of a core, during {busy.target if busy else '-'} "
        f"at {_rate(busy.offered) if busy else '-'}/s). Each step waited (up to "
        f"{MACHINE_QUIET_TIMEOUT:.0f} s) for that to fall below {MACHINE_QUIET_CPU_PERCENT:.0f} %, "
        f"and {len(disturbed)} step(s) disturbed by more than {DISTURBED_CPU_PERCENT:.0f} % were "
        "run again"
        + (f"; left out for time: {', '.join(bench.skipped)}" if bench.skipped else "")
        + "."
    )
    lines.append(MARK_END)
    replace_section(REPORT, MARK_BEGIN, MARK_END, "\n".join(lines), empty=BENCHMARKS_HEADER)


def _next_settle(steps: list[Step], step: Step) -> float:
    index = steps.index(step)
    return steps[index + 1].settle_s if index + 1 < len(steps) else 0.0


def write_profiles(command: str, profiled: list[tuple[Step, str, dict[str, Any]]]) -> None:
    lines = [
        PROFILE_BEGIN,
        f"Generated by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        f"({os.cpu_count()} cores): `py-spy record --rate {PROFILE_HZ}` on one process during a "
        "step of offered load; shares are of that process's busy samples (all threads; worker "
        "threads parked on their queue and the event loop polling in uvloop's C code are left "
        "out). Time in C code (asyncpg's protocol, httptools, socket system calls, OpenSSL) is "
        "charged to the Python function that called it.",
    ]
    for step, group, found in profiled:
        lines += [
            "",
            f"### {group} at {_rate(step.offered)}/s offered ({_rate(step.accepted)}/s accepted, "
            f"p99 {_ms(step.figures['p99_ms'])}; {group} used {step.cpu.get(group, 0):.0f} % of "
            f"a core = {10 * step.cpu.get(group, 0) / max(step.accepted, 1):.2f} ms per request; "
            f"{found['samples']:,} busy samples)",
            "",
            "CPU per process during the step (% of one core): " + _cpu_list(step.cpu),
            "",
            "| layer (innermost frame that belongs to one) | share |",
            "|---|---|",
            *(f"| {name} | {share:.1%} |" for name, share in found["layers"]),
            "",
            "| calls named in the analysis above (inclusive) | share |",
            "|---|---|",
            *(f"| {name} | {share:.1%} |" for name, share in found["key"]),
            "",
            "| hottest functions (self) | share |",
            "|---|---|",
            *(f"| `{name}` | {share:.1%} |" for name, share in found["self"]),
            "",
            "| costliest calls (inclusive) | share |",
            "|---|---|",
            *(f"| `{name}` | {share:.1%} |" for name, share in found["inclusive"]),
        ]
    lines.append(PROFILE_END)
    replace_section(PERFORMANCE, PROFILE_BEGIN, PROFILE_END, "\n".join(lines))


# --- main ------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, command: str) -> None:
    started = time.monotonic()
    rates = [float(r) for r in args.rates.split(",")]
    plan = SweepPlan(rates, args.step_seconds, args.extend, args.refine, started + args.budget)
    profiled: list[tuple[Step, str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-agreements-") as tmp:
        work = Path(tmp)
        say("starting the platform (python -m services_dev.localrt.run)")
        with platform_running(work) as runtime:
            plat = Platform(runtime, work)
            try:
                say(f"platform ready after {time.monotonic() - started:.0f}s; preparing")
                population = await prepare(runtime.entry_url, args.citizens, args.proposals)
                await plat.start_baseline()
                bench = Bench(plat, population, work, args.connections)
                await bench.measure_idle()
                pairs = Pairs(args.citizens, args.proposals)
                say(f"platform through Caddy on :{plat.http_port}")
                platform_knee = knee(await bench.sweep("platform", plat.http_port, pairs, plan))
                rate = platform_knee.offered if platform_knee else rates[0]
                hot_s = min(args.step_seconds, args.citizens / rate)
                await bench.step(
                    target="platform",
                    kind="hot",
                    port=plat.http_port,
                    pairs=[(c, population.hot) for c in range(int(rate * hot_s))],
                    rate=rate,
                    duration=hot_s,
                )
                # Below the knee: what a request costs, not what overload adds to it.
                profile_rate = max(WARM_UP_RATE, round(PROFILE_SHARE * rate / 25) * 25)
                if args.profile_seconds > 0:
                    step = await bench.step(
                        target="platform",
                        kind="profile",
                        port=plat.http_port,
                        pairs=pairs.take(min(pairs.left, int(profile_rate * args.profile_seconds))),
                        rate=profile_rate,
                        duration=args.profile_seconds,
                        profile=PROFILED,
                    )
                    profiled += [(step, g, analyse_profile(p)) for g, p in step.profiles.items()]
                plan = dataclasses.replace(plan, refine=args.baseline_refine)
                say(f"baseline directly on :{plat.baseline_port}")
                baseline_pairs = Pairs(args.citizens, args.proposals, cycle=True)
                # baseline-api is profiled during its step nearest the platform's knee (at that
                # load it is far from saturated: py-spy's few % of a core do not matter).
                near = min(rates, key=lambda r: abs(r - profile_rate))
                await bench.sweep(
                    "baseline",
                    plat.baseline_port,
                    baseline_pairs,
                    plan,
                    profile_at=(near, "baseline-api") if args.profile_seconds > 0 else None,
                )
                if not args.no_caddy_baseline:
                    say(f"baseline through its Caddy on :{plat.baseline_caddy_port}")
                    caddy_pairs = Pairs(args.citizens, args.proposals, cycle=True)
                    await bench.sweep(
                        "baseline via Caddy", plat.baseline_caddy_port, caddy_pairs, plan
                    )
                profiled += [
                    (step, group, analyse_profile(path))
                    for step in bench.steps
                    if step.target == "baseline" and step.kind == "sweep"
                    for group, path in step.profiles.items()
                ]
            finally:
                plat.stop_baseline()
    wall_s = time.monotonic() - started
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                [dataclasses.asdict(s) | {"profiles": list(s.profiles)} for s in bench.steps],
                indent=1,
            )
        )
    write_report(command, bench, args, wall_s)
    if profiled:
        write_profiles(command, profiled)
    say(f"wrote {REPORT.relative_to(ROOT)} and {PERFORMANCE.relative_to(ROOT)} ({wall_s:.0f}s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--rates", default="250,500,1000,1500,2000", help="offered rates per second, in order"
    )
    parser.add_argument("--step-seconds", type=float, default=10.0)
    parser.add_argument("--extend", type=int, default=3, help="extra +500/s steps while sustained")
    parser.add_argument("--refine", type=int, default=2, help="bisection steps above the knee")
    parser.add_argument("--baseline-refine", type=int, default=1)
    parser.add_argument("--citizens", type=int, default=1000)
    parser.add_argument("--proposals", type=int, default=60)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--profile-seconds", type=float, default=8.0, help="0: no py-spy")
    parser.add_argument("--no-caddy-baseline", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write every step here")
    parser.add_argument(
        "--budget", type=float, default=320.0, help="no new sweep step after this many seconds"
    )
    args = parser.parse_args()
    # Where the steps are dumped changes nothing measured: leave it out of the command shown.
    shown = [a for a in sys.argv[1:] if not a.startswith("--json")]
    if args.json is not None and str(args.json) in shown:
        shown.remove(str(args.json))
    command = (
        "make bench" if not shown else "python tests/bench/bench_agreements.py " + " ".join(shown)
    )
    asyncio.run(run(args, command))


if __name__ == "__main__":
    main()
