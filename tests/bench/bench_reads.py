"""Read benchmark: public reads per second through Caddy on the whole platform, against the same
Caddy configuration serving a static file of the same size, in the same run.

Run with ``python tests/bench/bench_reads.py`` (``make bench`` runs it). It

1. starts the platform as ``make run`` does (tests/bench/bench_agreements.py's helpers), signs in
   ``--citizens`` sandbox citizens, has them propose ``--proposals`` proposals and agree with one
   of them (the *viewed* proposal: past the 50 tier, with obligations and a tally);
2. offers reads open-loop (bench_loadgen.py) at rising rates, one resource at a time: the
   proposal's page, the first page of the list, its tally, the ledger's head, the page again
   with ``If-None-Match`` (304), and a static copy of the page's JSON served by a Caddy configured
   like the platform's (``file_server``): the ceiling of the entry point itself;
3. then reads the page at ``--mixed-rate`` while agreements arrive at ``--agree-rate`` and a
   reader polls the page and the tally, checking that counts and tiers never go backwards;
4. writes the figures to docs/BENCHMARKS.md (between the ``reads`` markers).

A step is *sustained* when at least 97 % of the offered rate was answered with the expected
status within the window, nothing failed and p99 ≤ 50 ms; the *knee* is the highest sustained
rate. Nothing here asserts a time: figures are measured and recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import httpx

BENCH_DIR: Final = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from bench_agreements import (  # noqa: E402
    REPORT,
    CpuMeter,
    _baseline_caddyfile,
    platform_running,
    prepare,
    say,
    until,
)
from bench_report import BENCHMARKS_HEADER, replace_section  # noqa: E402

from services_dev.testing.servers import free_port  # noqa: E402

MARK_BEGIN: Final = "<!-- reads:begin -->"
MARK_END: Final = "<!-- reads:end -->"
SUSTAINED_SHARE: Final = 0.97
P99_TARGET_MS: Final = 50.0


@dataclass
class Step:
    target: str
    rate: float
    figures: dict[str, Any]
    cpu: dict[str, float]
    foreign: float

    @property
    def sustained(self) -> bool:
        f = self.figures
        p99 = f["p99_ms"]
        return (
            f["accepted_per_s"] >= SUSTAINED_SHARE * self.rate
            and f["errors"] == 0
            and p99 is not None
            and p99 <= P99_TARGET_MS
        )


async def load(
    port: int, paths: list[str], rate: float, duration: float, work: Path, **job: Any
) -> dict[str, Any]:
    """One open-loop step of GETs; returns the generator's figures."""
    spec = {
        "host": "127.0.0.1",
        "port": port,
        "connections": job.pop("connections", 64),
        "rate": rate,
        "duration": duration,
        "expect": job.pop("expect", 200),
        "get_paths": paths,
        **job,
    }
    path = work / "read-job.json"
    path.write_text(json.dumps(spec))
    generator = await asyncio.create_subprocess_exec(
        sys.executable,
        str(BENCH_DIR / "bench_loadgen.py"),
        str(path),
        stdout=asyncio.subprocess.PIPE,
    )
    assert generator.stdout is not None
    figures: dict[str, Any] | None = None
    async for raw in generator.stdout:
        line = raw.decode().strip()
        if line.startswith("result "):
            figures = json.loads(line.removeprefix("result "))
    if await generator.wait() != 0 or figures is None:
        raise RuntimeError("the load generator failed")
    return figures


async def sweep(
    meter: CpuMeter,
    target: str,
    port: int,
    paths: list[str],
    rates: list[float],
    duration: float,
    work: Path,
    **job: Any,
) -> list[Step]:
    steps: list[Step] = []
    for rate in rates:
        before = meter.snapshot()
        figures = await load(port, paths, rate, duration, work, **dict(job))
        cpu, foreign = meter.usage(before, meter.snapshot())
        step = Step(target, rate, figures, cpu, foreign)
        steps.append(step)
        top = ", ".join(f"{k} {v:.0f}%" for k, v in list(cpu.items())[:4])
        say(
            f"  {target:<18} offered {rate:>6.0f}/s accepted {figures['accepted_per_s']:>7.1f}/s "
            f"errors {figures['errors']:>5} p50 {figures['p50_ms']} ms p99 {figures['p99_ms']} ms "
            f"other work {foreign:.0f}% [{top}]"
        )
        if figures["accepted_per_s"] < 0.9 * rate:
            break
        await asyncio.sleep(1.0)
    return steps


def static_caddy(work: Path, body: bytes) -> tuple[subprocess.Popen[bytes], int]:
    """A Caddy with the platform's global options serving ``body`` as a file."""
    root = work / "static"
    root.mkdir(exist_ok=True)
    (root / "proposal.json").write_bytes(body)
    port = free_port()
    global_options, _, _ = _baseline_caddyfile(work, port, 1).partition("http://")
    config = (
        global_options
        + f"http://:{port} {{\n\tbind 127.0.0.1\n\troot * {root}\n\tfile_server\n}}\n"
    )
    caddyfile = work / "static.Caddyfile"
    caddyfile.write_text(config)
    caddy = Path(sys.executable).parent / "caddy"
    proc = subprocess.Popen(
        [str(caddy), "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
        stdout=subprocess.DEVNULL,
        stderr=(work / "static-caddy.log").open("ab"),
    )
    return proc, port


async def agree_all(entry: str, tokens: list[str], proposal: str) -> None:
    async with httpx.AsyncClient(base_url=entry, timeout=60.0, trust_env=False) as client:
        gate = asyncio.Semaphore(16)

        async def agree(token: str) -> None:
            async with gate:
                r = await client.post(
                    "/v1/votes/agreements",
                    json={"proposal_id": proposal},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert r.status_code in (201, 409), r.text

        await asyncio.gather(*(agree(t) for t in tokens))


async def monotonic_reader(entry: str, proposal: str, stop: asyncio.Event) -> dict[str, int]:
    """Poll the page and the tally; count reads whose count or tiers went backwards."""
    seen_count = seen_tally = seen_tiers = 0
    reads = backwards = 0
    async with httpx.AsyncClient(base_url=entry, timeout=10.0, trust_env=False) as client:
        while not stop.is_set():
            page = (await client.get(f"/v1/proposals/{proposal}")).json()
            tally = (await client.get(f"/v1/votes/tallies/proposals/{proposal}")).json()
            reads += 2
            count, tiers = page["agreement_count"], len(page["tiers_reached"])
            if count < seen_count or tiers < seen_tiers or tally["agreements"] < seen_tally:
                backwards += 1
            seen_count, seen_tiers = max(seen_count, count), max(seen_tiers, tiers)
            seen_tally = max(seen_tally, tally["agreements"])
            await asyncio.sleep(0.02)
    return {"reads": reads, "backwards": backwards, "last_count": seen_count}


async def mixed(
    entry: str,
    port: int,
    tokens: list[str],
    proposal: str,
    args: argparse.Namespace,
    work: Path,
    meter: CpuMeter,
) -> dict[str, Any]:
    """Reads of the page at ``--mixed-rate`` while every citizen agrees with a second proposal
    at ``--agree-rate`` (sequential citizen-proposal pairs through the agreement loadgen)."""
    stop = asyncio.Event()
    reader = asyncio.create_task(monotonic_reader(entry, proposal, stop))
    duration = min(args.step_seconds, len(tokens) / args.agree_rate)
    agreements = {
        "host": "127.0.0.1",
        "port": port,
        "path": "/v1/votes/agreements",
        "connections": 16,
        "rate": args.agree_rate,
        "duration": duration,
        "expect": 201,
        "tokens": tokens,
        "proposals": [proposal],
        "pairs": [[i, 0] for i in range(len(tokens))],
    }
    (work / "agree-job.json").write_text(json.dumps(agreements))
    before = meter.snapshot()
    writer = await asyncio.create_subprocess_exec(
        sys.executable,
        str(BENCH_DIR / "bench_loadgen.py"),
        str(work / "agree-job.json"),
        stdout=asyncio.subprocess.PIPE,
    )
    reads = await load(port, [f"/v1/proposals/{proposal}"], args.mixed_rate, duration, work)
    out, _ = await writer.communicate()
    stop.set()
    checked = await reader
    cpu, foreign = meter.usage(before, meter.snapshot())
    written = next(
        json.loads(line.removeprefix("result "))
        for line in out.decode().splitlines()
        if line.startswith("result ")
    )
    return {"reads": reads, "writes": written, "reader": checked, "cpu": cpu, "foreign": foreign}


def knee(steps: list[Step]) -> Step | None:
    sustained = [s for s in steps if s.sustained]
    return max(sustained, key=lambda s: s.rate) if sustained else None


def write_report(
    command: str, results: dict[str, list[Step]], mix: dict[str, Any], size: int, wall: float
) -> None:
    ceiling = knee(results["static file"])

    def row(target: str) -> str:
        k = knee(results[target])
        best = max(results[target], key=lambda s: s.figures["accepted_per_s"])
        if k is None:
            return f"| {target} | none sustained | | | {best.figures['accepted_per_s']:,.0f}/s | |"
        ratio = f"{k.rate / ceiling.rate:.2f}" if ceiling else "n/a"
        top = ", ".join(f"{n} {v:.0f}%" for n, v in list(k.cpu.items())[:4])
        return (
            f"| {target} | **{k.rate:,.0f}/s** | {k.figures['p50_ms']} / {k.figures['p99_ms']} ms"
            f" | {ratio} | {best.figures['accepted_per_s']:,.0f}/s | {top} |"
        )

    reader = mix["reader"]
    lines = [
        MARK_BEGIN,
        "## Public reads (through the entry port)",
        "",
        f"Command: `{command}` — run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{wall:.0f} s in all. Platform as `make run` runs it; reads are anonymous (no token), "
        "open loop (tests/bench/bench_loadgen.py, 64 keep-alive connections), steps of "
        "`--step-seconds`; a step is sustained when >= 97% of the offered rate is answered "
        "within it with no failure and p99 <= 50 ms. The static file is the proposal page's "
        f"JSON ({size:,} bytes) served by a Caddy with the platform's global options "
        "(`file_server`), in the same run: the ceiling of the entry point on this machine.",
        "",
        "| resource | knee | p50 / p99 at the knee | ratio to static | highest answered "
        "| CPU at the knee (% of a core) |",
        "|---|---|---|---|---|---|",
        *(row(t) for t in results),
        "",
        f"Reads of the page at {mix['reads']['offered_per_s']:,.0f}/s while agreements arrive at "
        f"{mix['writes']['offered_per_s']:,.0f}/s: reads answered "
        f"{mix['reads']['accepted_per_s']:,.0f}/s (p99 {mix['reads']['p99_ms']} ms, "
        f"errors {mix['reads']['errors']}), agreements {mix['writes']['accepted_per_s']:,.0f}/s "
        f"(p99 {mix['writes']['p99_ms']} ms); a reader polling the page and the tally made "
        f"{reader['reads']} reads and saw a count or tier go backwards **{reader['backwards']}** "
        f"times (last count {reader['last_count']}).",
        "",
        "Every step:",
        "",
        "| resource | offered | answered | p50 | p99 | errors | other work on the machine |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {s.target} | {s.rate:,.0f}/s | {s.figures['accepted_per_s']:,.0f}/s "
            f"| {s.figures['p50_ms']} ms | {s.figures['p99_ms']} ms | {s.figures['errors']} "
            f"| {s.foreign:.0f}% |"
            for steps in results.values()
            for s in steps
        ),
        MARK_END,
    ]
    replace_section(REPORT, MARK_BEGIN, MARK_END, "\n".join(lines), empty=BENCHMARKS_HEADER)


async def run(args: argparse.Namespace, command: str) -> None:
    started = time.monotonic()
    rates = [float(r) for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-reads-") as tmp:
        work = Path(tmp)
        with platform_running(work) as runtime:
            entry = runtime.entry_url
            port = runtime.ports["PLATFORM_HTTP_PORT"]
            population = await prepare(entry, args.citizens, args.proposals)
            viewed, written = population.proposals[0], population.proposals[-1]
            await agree_all(entry, population.tokens[: args.viewed_agreements], viewed)

            async with httpx.AsyncClient(base_url=entry, trust_env=False) as client:

                async def tallied() -> bool:
                    page = (await client.get(f"/v1/proposals/{viewed}")).json()
                    return bool(page["agreement_count"] >= args.viewed_agreements)

                await until("the viewed proposal's count", tallied, within=60.0)
                page = await client.get(f"/v1/proposals/{viewed}")
                etag = page.headers.get("etag", '"none"')
            caddy, static_port = static_caddy(work, page.content)
            try:
                meter = CpuMeter()
                meter.snapshot()
                targets: list[tuple[str, int, list[str], dict[str, Any]]] = [
                    ("static file", static_port, ["/proposal.json"], {}),
                    ("proposal page", port, [f"/v1/proposals/{viewed}"], {}),
                    (
                        "page, 304",
                        port,
                        [f"/v1/proposals/{viewed}"],
                        {"headers": {"If-None-Match": etag}, "expect": 304},
                    ),
                    ("list, first page", port, ["/v1/proposals"], {}),
                    ("tally", port, [f"/v1/votes/tallies/proposals/{viewed}"], {}),
                    ("ledger head", port, ["/v1/ledger/head"], {}),
                ]
                results: dict[str, list[Step]] = {}
                for target, target_port, paths, job in targets:
                    results[target] = await sweep(
                        meter, target, target_port, paths, rates, args.step_seconds, work, **job
                    )
                mix = await mixed(entry, port, population.tokens, written, args, work, meter)
                say(f"  mixed: {json.dumps(mix['reader'])}")
            finally:
                caddy.terminate()
                caddy.wait(10)
    write_report(command, results, mix, len(page.content), time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rates", default="500,1000,2000,3000,4000,5000,6000")
    parser.add_argument("--step-seconds", type=float, default=8.0)
    parser.add_argument("--citizens", type=int, default=400)
    parser.add_argument("--proposals", type=int, default=20)
    parser.add_argument("--viewed-agreements", type=int, default=60)
    parser.add_argument("--mixed-rate", type=float, default=2000.0)
    parser.add_argument("--agree-rate", type=float, default=200.0)
    args = parser.parse_args()
    command = "python tests/bench/bench_reads.py " + " ".join(sys.argv[1:])
    asyncio.run(run(args, command.strip()))


if __name__ == "__main__":
    main()
