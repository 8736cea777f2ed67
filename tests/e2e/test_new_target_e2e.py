"""Read-your-writes for new targets, end to end through Caddy with every process running as
``make run`` runs it: 100 agreements sent within milliseconds of their proposal's creation are all
accepted, and so are ballots sent the moment a forum is created; an id nobody knows is still 404
(docs/votes.md "A target vote-svc has not heard of yet").

So that the agreements really arrive before ``proposal.opened`` does, whatever the machine's
speed, vote-svc's consumer (``vote-consume``) is paused (SIGSTOP) from just before the proposal is
created until after the bursts; it then applies the late events, which change nothing."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
import pytest
from e2e_runtime import Runtime

pytestmark = pytest.mark.e2e

VOTERS = 100


async def _sign_in(client: httpx.AsyncClient, seed: str, **persona: Any) -> str:
    started = await client.post("/v1/identity/verifications", json={"provider": "sandbox"})
    assert started.status_code == 201, started.text
    done = await client.post(
        f"/v1/identity/verifications/{started.json()['verification_id']}/complete",
        json={
            "persona": {
                "name": "시민",
                "birthdate": "1985-04-01",
                "phone": "010-1111-2222",
                "ci_seed": seed,
                **persona,
            }
        },
    )
    assert done.status_code == 200, done.text
    token: str = done.json()["access_token"]
    return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _burst(
    client: httpx.AsyncClient, tokens: list[str], path: str, body: dict[str, Any]
) -> list[httpx.Response]:
    return await asyncio.gather(
        *(client.post(path, json=body, headers=_bearer(token)) for token in tokens)
    )


def _vote_consumer(runtime: Runtime) -> psutil.Process:
    """The launcher's ``vote-svc consume`` process."""
    for proc in psutil.process_iter(["cmdline"]):
        args = proc.info["cmdline"] or []
        if "consume" in args and any(a.endswith("vote-svc") for a in args):
            try:
                if proc.environ().get("PLATFORM_DATA_DIR") == str(runtime.data_dir):
                    return proc
            except (psutil.AccessDenied, psutil.NoSuchProcess):
                continue
    pytest.fail("no vote-svc consume process of this runtime")


async def _bursts(client: httpx.AsyncClient, proposer: str, staff: str, voters: list[str]) -> str:
    """Create a proposal and agree at once; create a forum and vote at once. The proposal id."""
    created = await client.post(
        "/v1/proposals",
        json={
            "title": "버스 정류장에 그늘막을 설치해 주세요",
            "body": "여름에 정류장에서 기다리기가 너무 덥습니다. 그늘막을 설치해 주세요.",
            "category": "transport",
        },
        headers=_bearer(proposer),
    )
    assert created.status_code == 201, created.text
    created_at = time.monotonic()
    pid: str = created.json()["id"]
    answers = await _burst(client, voters, "/v1/votes/agreements", {"proposal_id": pid})
    sent_within = time.monotonic() - created_at
    statuses = [a.status_code for a in answers]
    assert statuses == [201] * VOTERS, (
        {a.text for a in answers if a.status_code != 201},
        sent_within,
    )
    assert len({a.json()["vote_id"] for a in answers}) == VOTERS
    print(f"burst of {VOTERS} sent within {sent_within * 1000:.0f} ms of the creation")  # noqa: T201

    opens = time.time()
    forum = await client.post(
        "/v1/forums",
        json={
            "title": "그늘막 공론장",
            "mode": "online",
            "options": ["찬성", "반대"],
            "opens_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(opens - 60)),
            "closes_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(opens + 86_400)),
        },
        headers=_bearer(staff),
    )
    assert forum.status_code == 201, forum.text
    fid = forum.json()["id"]
    ballots = await _burst(
        client, voters[:20], f"/v1/votes/forums/{fid}/ballots", {"choice": "찬성"}
    )
    assert [b.status_code for b in ballots] == [201] * 20, {b.text for b in ballots}

    return pid


async def _scenario(client: httpx.AsyncClient, runtime: Runtime) -> None:
    vote_url = runtime.service_url("vote")
    proposer = await _sign_in(client, "e2e-new-target-proposer")
    staff = await _sign_in(client, "e2e-new-target-staff", roles=["mayor_office"])
    voters = list(
        await asyncio.gather(*(_sign_in(client, f"e2e-new-target-{i:03d}") for i in range(VOTERS)))
    )
    # Open the connections beforehand, so that the burst leaves within milliseconds.
    await asyncio.gather(
        *(client.get("/v1/votes/tallies/proposals/" + str(uuid.uuid4())) for _ in voters)
    )

    consumer = _vote_consumer(runtime)
    consumer.suspend()
    try:
        pid = await _bursts(client, proposer, staff, voters)
    finally:
        consumer.resume()

    unknown = await client.post(
        "/v1/votes/agreements", json={"proposal_id": str(uuid.uuid4())}, headers=_bearer(proposer)
    )
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["type"].endswith("/proposal-not-found")

    # The events arrive afterwards and change nothing: the tally is exactly the votes.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        tally = await client.get(f"/v1/votes/tallies/proposals/{pid}")
        shown = await client.get(f"/v1/proposals/{pid}")
        if tally.json()["agreements"] == VOTERS and shown.json()["agreement_count"] == VOTERS:
            break
        await asyncio.sleep(0.25)
    else:
        pytest.fail(f"counts: {tally.json()} / {shown.json()['agreement_count']}")
    metrics = (await client.get(f"{vote_url}/metrics")).text
    filled = re.findall(r'vote_target_lookups_total\{[^}]*outcome="filled"[^}]*\} (\S+)', metrics)
    print(f"lookups filled: {filled}")  # noqa: T201
    # One lookup per target (the misses of each burst shared it): the proposal and the forum.
    assert sorted(float(v) for v in filled) == [1.0, 1.0], metrics


@pytest.mark.timeout(1500)
def test_agreements_right_after_creation_are_all_accepted(runtime: Runtime) -> None:
    with httpx.Client(trust_env=False, timeout=10.0) as sync_client:
        runtime.start()
        # A busy machine may take minutes to migrate and start everything.
        runtime.wait_healthy(sync_client, timeout=900)

    async def run() -> None:
        limits = httpx.Limits(max_connections=VOTERS + 10, max_keepalive_connections=VOTERS + 10)
        async with httpx.AsyncClient(
            base_url=runtime.entry_url, timeout=30.0, limits=limits, trust_env=False
        ) as client:
            await _scenario(client, runtime)

    try:
        asyncio.run(run())
    except BaseException:
        print(runtime.output())  # noqa: T201
        raise
    assert runtime.interrupt() == 0
