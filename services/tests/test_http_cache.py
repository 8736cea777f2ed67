"""services.http_cache: ETag / If-None-Match, Cache-Control per resource, per-process copies."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Scope

from services.http_cache import CachePolicy, HttpCacheMiddleware, matches_if_none_match

VERSIONS = {"v": "1"}


@dataclass(frozen=True)
class VersionedPolicy(CachePolicy):
    """A policy whose version is a value of this module instead of a database row (the SQL
    path runs for real in ledger-svc's API tests)."""

    async def version(self, scope: Scope, match: re.Match[str]) -> str | None:
        return f"{match['id']}:{VERSIONS['v']}"


POLICIES = (
    VersionedPolicy("/versioned/{id}", r"/versioned/(?P<id>[^/]+)", 0, 0, server_ttl=3600.0),
    CachePolicy(
        "/things/{id}", r"/things/[^/]+", max_age=2, stale_while_revalidate=10, server_ttl=0.2
    ),
)


def build() -> tuple[httpx.AsyncClient, Counter[str], dict[str, int]]:
    calls: Counter[str] = Counter()
    state = {"version": 1}

    async def thing(request: Request) -> Response:
        thing_id = request.path_params["id"]
        calls[thing_id] += 1
        await asyncio.sleep(0.01)
        if thing_id == "missing":
            return JSONResponse({"type": "not-found"}, status_code=404)
        return JSONResponse({"id": thing_id, "version": state["version"], "q": request.url.query})

    async def other(request: Request) -> Response:
        calls["other"] += 1
        return JSONResponse({"other": True})

    routes = [Route("/things/{id}", thing), Route("/versioned/{id}", thing), Route("/other", other)]
    app = Starlette(routes=routes)
    wrapped = HttpCacheMiddleware(app, POLICIES)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped), base_url="http://t")
    return client, calls, state


async def test_a_public_read_is_answered_from_the_copy_with_its_etag_and_cache_control() -> None:
    client, calls, _ = build()
    async with client:
        first = await client.get("/things/a")
        second = await client.get("/things/a")
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() == {"id": "a", "version": 1, "q": ""}
    assert calls["a"] == 1
    assert first.headers["etag"] == second.headers["etag"]
    assert first.headers["etag"].startswith('"')
    assert first.headers["cache-control"] == "public, max-age=2, stale-while-revalidate=10"
    assert first.headers["content-type"] == "application/json"


async def test_if_none_match_with_the_current_tag_answers_304_without_a_body() -> None:
    client, calls, _ = build()
    async with client:
        etag = (await client.get("/things/a")).headers["etag"]
        revalidated = await client.get("/things/a", headers={"If-None-Match": f'W/{etag}, "x"'})
        other_tag = await client.get("/things/a", headers={"If-None-Match": '"stale"'})
    assert revalidated.status_code == 304
    assert revalidated.content == b""
    assert revalidated.headers["etag"] == etag
    assert other_tag.status_code == 200
    assert other_tag.json()["id"] == "a"
    assert calls["a"] == 1


async def test_a_copy_is_never_served_after_its_server_ttl() -> None:
    client, calls, state = build()
    async with client:
        first = await client.get("/things/a")
        state["version"] = 2
        still_cached = await client.get("/things/a")
        await asyncio.sleep(0.25)
        fresh = await client.get("/things/a")
        revalidated = await client.get(
            "/things/a", headers={"If-None-Match": first.headers["etag"]}
        )
    assert still_cached.json()["version"] == 1
    assert fresh.json()["version"] == 2
    assert fresh.headers["etag"] != first.headers["etag"]
    assert revalidated.status_code == 200  # the old tag no longer matches
    assert calls["a"] == 2


async def test_a_versioned_copy_is_replaced_as_soon_as_its_version_changes() -> None:
    client, calls, state = build()
    async with client:
        first = await client.get("/versioned/a")
        cached = await client.get("/versioned/a")
        state["version"] = 2
        VERSIONS["v"] = "2"
        try:
            changed = await client.get("/versioned/a")
            revalidated = await client.get(
                "/versioned/a", headers={"If-None-Match": first.headers["etag"]}
            )
        finally:
            VERSIONS["v"] = "1"
    assert cached.json()["version"] == 1
    assert changed.json()["version"] == 2
    assert revalidated.status_code == 200
    assert calls["a"] == 2


async def test_concurrent_misses_of_one_resource_ask_the_app_once() -> None:
    client, calls, _ = build()
    async with client:
        answers = await asyncio.gather(*(client.get("/things/b") for _ in range(20)))
    assert {a.status_code for a in answers} == {200}
    assert calls["b"] == 1


async def test_refusals_are_not_kept_and_carry_no_cache_headers() -> None:
    client, calls, _ = build()
    async with client:
        answers = [await client.get("/things/missing") for _ in range(3)]
    assert {a.status_code for a in answers} == {404}
    assert calls["missing"] == 3
    assert "etag" not in answers[0].headers
    assert "cache-control" not in answers[0].headers


async def test_an_authenticated_read_skips_the_copy_and_is_private_no_store() -> None:
    client, calls, _ = build()
    async with client:
        await client.get("/things/a")
        signed_in = await client.get("/things/a", headers={"Authorization": "Bearer x"})
        other = await client.get("/other", headers={"Authorization": "Bearer x"})
    assert signed_in.status_code == 200
    assert signed_in.headers["cache-control"] == "private, no-store"
    assert other.headers["cache-control"] == "private, no-store"
    assert calls["a"] == 2


async def test_paths_without_a_policy_and_distinct_queries_are_kept_apart() -> None:
    client, calls, _ = build()
    async with client:
        plain = await client.get("/other")
        await client.get("/other")
        one = await client.get("/things/a", params={"x": "1"})
        two = await client.get("/things/a", params={"x": "2"})
    assert "etag" not in plain.headers
    assert "cache-control" not in plain.headers
    assert calls["other"] == 2
    assert one.json()["q"] == "x=1"
    assert two.json()["q"] == "x=2"
    assert calls["a"] == 2


async def test_head_answers_the_headers_of_the_get_without_a_body() -> None:
    client, calls, _ = build()
    async with client:
        head = await client.head("/things/c")
        get = await client.get("/things/c")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == get.headers["etag"]
    assert int(head.headers["content-length"]) == len(get.content)
    assert calls["c"] == 1


def test_if_none_match_comparison_follows_rfc_9110() -> None:
    assert matches_if_none_match(b"*", b'"a"')
    assert matches_if_none_match(b'"b", W/"a"', b'"a"')
    assert not matches_if_none_match(b'"b"', b'"a"')
