"""HTTP caching of public reads: ``ETag`` / ``If-None-Match`` → 304, ``Cache-Control`` chosen per
resource, and a per-process copy of each serialised document served without touching the app.

A service lists its cacheable resources as :class:`CachePolicy` values (a path pattern, how long
a CDN or browser may reuse an answer, how long this process may keep its own copy, and, for a
resource that changes, the SQL of its *version*). For a ``GET`` or ``HEAD`` **without**
``Authorization`` whose path matches a policy:

* a copy is current when it is younger than ``server_ttl`` and, if the policy has a
  ``version_sql``, the version read now (one indexed query, in the same database the writers
  commit to) equals the version read when the copy was made. A current copy is answered straight
  from memory: the route, its other queries and its serialisation do not run;
* otherwise the app answers once (concurrent misses of one key wait for that one answer: no
  stampede), and a ``200`` is kept with a strong ``ETag`` (BLAKE2b of the body) and the policy's
  ``Cache-Control: public, max-age=…, stale-while-revalidate=…``;
* ``If-None-Match`` with the current tag answers ``304`` with no body.

So with a ``version_sql`` this process never answers a document older than the last commit that
changed it (the version is read after the request arrives); without one, the resource is either
immutable (a signed head of a given size) or stale by at most ``server_ttl``. What a CDN or
browser may add is ``max-age``; both are stated per resource in docs/api.md.

Any other answer passes through unchanged, except that an authenticated ``GET`` gets
``Cache-Control: private, no-store`` when the route did not set its own: personal answers must
not be stored by a shared cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PRIVATE_NO_STORE = b"private, no-store"

#: A UUID in a path, for the patterns of policies whose version SQL casts it (``CAST(:id AS
#: uuid)``): anything else is left to the route, which answers 422 itself.
UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

#: Response headers of the app that a cached copy replays (others are per-response).
_REPLAYED = frozenset({b"content-type", b"content-language", b"vary"})


@dataclass(frozen=True)
class CachePolicy:
    """One cacheable resource: ``pattern`` is a full-match regular expression of the path."""

    name: str
    pattern: str
    max_age: int
    stale_while_revalidate: int
    server_ttl: float
    #: One row, one column: changes whenever the resource does (bound parameters: the
    #: pattern's named groups and ``now``, the service clock's time). None: the resource is
    #: immutable or ``server_ttl`` is its bound.
    version_sql: str | None = None
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.pattern))

    async def version(self, scope: Scope, match: re.Match[str]) -> str | None:
        """The resource's current version (None without ``version_sql``), read from the
        service's database (``app.state.engine``)."""
        if self.version_sql is None:
            return None
        state = scope["app"].state
        engine: AsyncEngine = state.engine
        # ``:now`` is the service's clock (a test's manual clock too), for versions that depend
        # on where now stands against a due date.
        ctx = getattr(state, "ctx", None)
        now = ctx.clock.now() if ctx is not None else datetime.now(UTC)
        async with engine.connect() as conn:
            result = await conn.execute(text(self.version_sql), {**match.groupdict(), "now": now})
            value = result.scalar()
        return "" if value is None else str(value)

    @property
    def cache_control(self) -> bytes:
        return (
            f"public, max-age={self.max_age}, stale-while-revalidate={self.stale_while_revalidate}"
        ).encode()


@dataclass
class _Entry:
    body: bytes
    etag: bytes
    headers: list[tuple[bytes, bytes]]
    expires: float
    version: str | None


@dataclass(frozen=True)
class _Route:
    """What the request metrics label a cache hit with (the policy's name, like a route path)."""

    path: str


def etag_of(body: bytes) -> bytes:
    """A strong entity tag for ``body``."""
    return b'"' + hashlib.blake2b(body, digest_size=16).hexdigest().encode() + b'"'


def matches_if_none_match(header: bytes, etag: bytes) -> bool:
    """RFC 9110 §13.1.2: weak comparison, ``*`` matches any current representation."""
    if header.strip() == b"*":
        return True
    bare = etag.removeprefix(b"W/")
    return any(tag.strip().removeprefix(b"W/") == bare for tag in header.split(b","))


class HttpCacheMiddleware:
    """ASGI middleware applying ``policies`` (see the module docstring)."""

    def __init__(
        self, app: ASGIApp, policies: Sequence[CachePolicy] = (), max_entries: int = 10_000
    ) -> None:
        self.app = app
        self.policies = tuple(policies)
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, bytes], _Entry] = OrderedDict()
        self._inflight: dict[
            tuple[tuple[str, bytes], str | None], asyncio.Future[_Entry | None]
        ] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if b"authorization" in headers:
            await self.app(scope, receive, _private(send))
            return
        found = self._policy(scope["path"])
        if found is None:
            await self.app(scope, receive, send)
            return
        policy, match = found
        try:
            version = await policy.version(scope, match)
        except Exception:
            # The database is unreachable (or the version cannot be read): let the route answer
            # as it would without a copy (503 database-unavailable, with its problem body).
            await self.app(scope, receive, send)
            return
        key = (scope["path"], scope.get("query_string", b""))
        entry = self._current(key, version)
        if entry is None:
            entry = await self._fill(policy, key, version, scope, receive, send)
            if entry is None:
                return  # the app's own answer (not a cacheable 200) was sent as it was
        scope["route"] = _Route(policy.name)
        await _send_entry(entry, policy, headers.get(b"if-none-match"), scope["method"], send)

    def _policy(self, path: str) -> tuple[CachePolicy, re.Match[str]] | None:
        for policy in self.policies:
            match = policy.regex.fullmatch(path)
            if match is not None:
                return policy, match
        return None

    def _current(self, key: tuple[str, bytes], version: str | None) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None or entry.expires <= time.monotonic() or entry.version != version:
            return None
        return entry

    async def _fill(
        self,
        policy: CachePolicy,
        key: tuple[str, bytes],
        version: str | None,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> _Entry | None:
        """Ask the app once per key and version; returns the entry, or None when the app's
        answer was not cacheable and has been sent to this client already.

        The version is read before the app answers, so a copy is never labelled newer than
        what it holds (a write landing in between makes the next request ask again)."""
        flight = (key, version)
        waiting = self._inflight.get(flight)
        if waiting is not None:
            entry = await asyncio.shield(waiting)
            if entry is not None:
                return entry
            # The leader's answer was not cacheable: ask the app for this client too.
            await self.app(scope, receive, send)
            return None
        future: asyncio.Future[_Entry | None] = asyncio.get_running_loop().create_future()
        self._inflight[flight] = future
        try:
            entry = await self._capture(policy, version, scope, receive, send)
            future.set_result(entry)
        except BaseException:
            future.set_result(None)
            raise
        finally:
            del self._inflight[flight]
        if entry is not None:
            self._store(key, entry)
        return entry

    async def _capture(
        self, policy: CachePolicy, version: str | None, scope: Scope, receive: Receive, send: Send
    ) -> _Entry | None:
        start: Message | None = None
        chunks: list[bytes] = []
        passthrough = False
        get_scope = {**scope, "method": "GET"}  # a HEAD fills the cache with the GET's body

        async def capture(message: Message) -> None:
            nonlocal start, passthrough
            if message["type"] == "http.response.start":
                if message["status"] != 200:
                    passthrough = True
                    await send(message)
                    return
                start = message
            elif passthrough:
                await send(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(get_scope, receive, capture)
        if passthrough or start is None:
            return None
        body = b"".join(chunks)
        replayed = [(k, v) for k, v in start.get("headers", []) if k.lower() in _REPLAYED]
        expires = time.monotonic() + policy.server_ttl
        return _Entry(body, etag_of(body), replayed, expires, version)

    def _store(self, key: tuple[str, bytes], entry: _Entry) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


async def _send_entry(
    entry: _Entry, policy: CachePolicy, if_none_match: bytes | None, method: str, send: Send
) -> None:
    headers = [
        *entry.headers,
        (b"etag", entry.etag),
        (b"cache-control", policy.cache_control),
    ]
    if if_none_match is not None and matches_if_none_match(if_none_match, entry.etag):
        await send({"type": "http.response.start", "status": 304, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    headers.append((b"content-length", str(len(entry.body)).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else entry.body})


def _private(send: Send) -> Send:
    """Mark an authenticated answer ``private, no-store`` unless the route chose otherwise."""

    async def marked(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            if not any(k.lower() == b"cache-control" for k, _ in headers):
                headers.append((b"cache-control", PRIVATE_NO_STORE))
                message = {**message, "headers": headers}
        await send(message)

    return marked
