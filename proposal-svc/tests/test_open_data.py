"""Open data: the exports' columns, redaction and lack of personal data, ETag and 304, bounded
memory while streaming 10,000 proposals, and the daily snapshots."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from proposal_helpers import proposal_app, propose

from proposal_svc.bootstrap import ProposalContext, bootstrap
from proposal_svc.config import ProposalSettings
from proposal_svc.main import create_app
from proposal_svc.opendata import snapshots
from proposal_svc.opendata.datasets import DATASETS, HIDDEN_TITLE
from services.clock import ManualClock
from services.db import to_plain_url
from services_dev.testing import running_app
from services_dev.testing.tokens import TestTokens


@pytest.fixture
def open_ctx(
    proposal_settings: ProposalSettings, clock: ManualClock, tmp_path: Path
) -> ProposalContext:
    settings = proposal_settings.model_copy(
        update={"open_data_dir": tmp_path / "open-data", "open_data_batch_rows": 500}
    )
    return bootstrap(settings, clock=clock)


@pytest.fixture
async def open_client(
    open_ctx: ProposalContext, tokens: TestTokens
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(proposal_app(open_ctx, tokens)) as c:
        yield c


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_exports_have_the_documented_columns_and_no_personal_data(
    open_client: httpx.AsyncClient, tokens: TestTokens
) -> None:
    author = uuid.uuid4()
    shown = await propose(open_client, tokens, author=author)
    hidden = await propose(open_client, tokens, author=author, title="숨길 제안입니다")
    await open_client.post(
        f"/v1/proposals/{hidden['id']}/hide",
        json={"reason": "욕설"},
        headers=tokens.headers(roles=["citizen", "admin"]),
    )
    staff = tokens.headers(roles=["citizen", "department"], department="교통실")
    answered = await open_client.post(
        f"/v1/proposals/{shown['id']}/answers",
        json={"kind": "department", "body": "검토 중입니다"},
        headers=staff,
    )
    assert answered.status_code == 201
    for name, dataset in DATASETS.items():
        response = await open_client.get(f"/v1/open-data/{name}.csv")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        header = response.text.splitlines()[0].split(",")
        assert header == [c.name for c in dataset.columns], name
        as_json = await open_client.get(f"/v1/open-data/{name}.json")
        assert as_json.headers["content-type"] == "application/json"
        records = as_json.json()
        assert all(list(r) == header for r in records)
        assert str(author) not in response.text
        assert str(author) not in as_json.text
    rows = {r["id"]: r for r in _csv((await open_client.get("/v1/open-data/proposals.csv")).text)}
    assert rows[shown["id"]]["title"] == shown["title"]
    assert rows[shown["id"]]["district"] == "마포구"
    assert rows[shown["id"]]["closed_at"] == ""
    assert rows[hidden["id"]]["title"] == HIDDEN_TITLE
    assert "숨길" not in (await open_client.get("/v1/open-data/proposals.json")).text
    (answer,) = (await open_client.get("/v1/open-data/answers.json")).json()
    assert answer["department"] == "교통실"
    assert answer["proposal_id"] == shown["id"]


async def test_etag_answers_304_until_the_data_changes(
    open_client: httpx.AsyncClient, tokens: TestTokens
) -> None:
    created = await propose(open_client, tokens)
    first = await open_client.get("/v1/open-data/proposals.csv")
    etag = first.headers["etag"]
    assert first.headers["cache-control"].startswith("public, max-age=")
    same = await open_client.get("/v1/open-data/proposals.csv", headers={"If-None-Match": etag})
    assert same.status_code == 304
    assert same.content == b""
    weak = await open_client.get(
        "/v1/open-data/proposals.csv", headers={"If-None-Match": f'"other", W/{etag}'}
    )
    assert weak.status_code == 304
    other_format = await open_client.get(
        "/v1/open-data/proposals.json", headers={"If-None-Match": etag}
    )
    assert other_format.status_code == 200
    # An update (not an insert) changes it too.
    await open_client.post(
        f"/v1/proposals/{created['id']}/hide",
        json={"reason": "중복"},
        headers=tokens.headers(roles=["citizen", "admin"]),
    )
    changed = await open_client.get("/v1/open-data/proposals.csv", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag


async def _insert_proposals(settings: ProposalSettings, count: int) -> None:
    conn = await asyncpg.connect(to_plain_url(settings.database_url))
    try:
        await conn.execute(
            """
            INSERT INTO proposals (id, author_id, title, body, category, district, status,
                                   agreement_count, created_at, opened_at, closes_at)
            SELECT gen_random_uuid(), gen_random_uuid(), '제안 ' || n, repeat('자전거 대여소 ', 100),
                   'transport', '마포구', 'open', n % 700, now(), now(), now() + interval '30 days'
            FROM generate_series(1, $1) AS n
            """,
            count,
        )
    finally:
        await conn.close()


async def test_csv_export_of_10000_proposals_streams_in_bounded_memory(
    open_ctx: ProposalContext,
) -> None:
    """Peak Python memory while the export is sent stays a small fraction of its size: it is
    read and encoded batch by batch (500 rows here), not built whole."""
    await _insert_proposals(open_ctx.settings, 10_000)
    app = create_app(open_ctx)
    sent = {"bytes": 0, "chunks": 0, "status": 0}
    requested = False
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()  # a client that stays until the end
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent["status"] = message["status"]
        elif message["type"] == "http.response.body":
            sent["bytes"] += len(message.get("body", b""))
            sent["chunks"] += 1
            if not message.get("more_body", False):
                done.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/v1/open-data/proposals.csv",
        "raw_path": b"/v1/open-data/proposals.csv",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
        "root_path": "",
    }
    async with app.router.lifespan_context(app):
        # Warm up what the first request of an app builds once (its OpenAPI document, which
        # the unknown-query check reads; compiled queries) on a small export, so that the
        # peak below measures the streaming only.
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as warm:
            assert (await warm.get("/v1/open-data/forums.csv")).status_code == 200
        tracemalloc.start()
        try:
            await app(scope, receive, send)  # type: ignore[arg-type]
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert sent["status"] == 200
    assert sent["bytes"] > 20_000_000  # 10,001 lines of ~2.2 kB
    assert sent["chunks"] > 100
    assert peak < sent["bytes"] / 4, (peak, sent["bytes"])


async def test_daily_snapshot_is_written_once_listed_and_served(
    open_client: httpx.AsyncClient,
    open_ctx: ProposalContext,
    sessions: Any,
    tokens: TestTokens,
    clock: ManualClock,
) -> None:
    await propose(open_client, tokens)
    assert (await open_client.get("/v1/open-data/snapshots")).json() == {"items": []}
    written = await snapshots.snapshot_round(sessions, open_ctx)
    assert written is not None
    assert await snapshots.snapshot_round(sessions, open_ctx) is None  # once a day
    listed = (await open_client.get("/v1/open-data/snapshots")).json()["items"]
    (day,) = listed
    assert day["date"] == snapshots.today(open_ctx).isoformat()
    names = [f["name"] for f in day["files"]]
    assert names == list(snapshots.FILE_NAMES)
    by_name = {f["name"]: f for f in day["files"]}
    assert by_name["proposals.csv"]["rows"] == 1
    got = await open_client.get(by_name["proposals.csv"]["url"])
    assert got.status_code == 200
    assert got.text == (await open_client.get("/v1/open-data/proposals.csv")).text
    assert got.headers["etag"] == f'"{by_name["proposals.csv"]["sha256"]}"'
    again = await open_client.get(
        by_name["proposals.csv"]["url"], headers={"If-None-Match": got.headers["etag"]}
    )
    assert again.status_code == 304
    assert json.loads((await open_client.get(by_name["forums.json"]["url"])).text) == []
    # The next day gets its own; a snapshot older than the retention is removed.
    clock.advance(days=open_ctx.settings.open_data_keep_days + 1)
    assert await snapshots.snapshot_round(sessions, open_ctx) is not None
    dates = [s["date"] for s in (await open_client.get("/v1/open-data/snapshots")).json()["items"]]
    assert dates == [snapshots.today(open_ctx).isoformat()]


async def test_snapshot_refusals_are_problems(open_client: httpx.AsyncClient) -> None:
    missing = await open_client.get("/v1/open-data/snapshots/2026-01-01/proposals.csv")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["type"].endswith("/snapshot-not-found")
    traversal = await open_client.get("/v1/open-data/snapshots/2026-01-01/..%2Fmanifest.json")
    assert traversal.status_code == 404
    bad_date = await open_client.get("/v1/open-data/snapshots/yesterday/proposals.csv")
    assert bad_date.status_code == 422
    assert bad_date.headers["content-type"] == "application/problem+json"
    unknown = await open_client.get("/v1/open-data/votes.csv")
    assert unknown.status_code == 404


def test_docs_list_every_column_with_its_type() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "open-data.md").read_text()
    for dataset in DATASETS.values():
        for column in dataset.columns:
            assert f"| `{column.name}` | {column.type} | {column.meaning} |" in docs, column
