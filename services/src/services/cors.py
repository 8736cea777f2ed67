"""CORS for browser front ends on other origins (docs/api.md, "Browser access").

Every service applies :class:`CORSMiddleware` (services.app), so the grant is the same through
Caddy on :8000, through the Kubernetes ingress and on a service's own port. The allow-list is
``PLATFORM_CORS_ORIGINS`` (comma-separated origins, one variable for every service); unset, the
development front ends' origins (:data:`DEV_ORIGINS`) outside production and none in production.

- A preflight (``OPTIONS`` with ``Access-Control-Request-Method``) from an allowed origin is
  answered 204 here, before any route, limit or token check, with the allowed methods and
  request headers and how long the browser may cache the answer.
- A preflight from any other origin is answered 403 ``cors-origin-not-allowed`` with no grant.
- A real request from an allowed origin gets ``Access-Control-Allow-Origin`` (the origin itself,
  never ``*``) and ``Access-Control-Expose-Headers``; from another origin, no grant (the browser
  then hides the answer from the page). Every answer to a request with an ``Origin`` says
  ``Vary: Origin`` so that no cache serves one origin's grant to another.

No credentials mode: the API authenticates with ``Authorization: Bearer`` tokens, not cookies,
so ``Access-Control-Allow-Credentials`` is never sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.problems import problem_response

DEV_ORIGINS: Final = (
    "http://localhost:5173",
    "http://127.0.0.1:5173",
    "http://localhost:3000",
    "http://127.0.0.1:3000",
)
ALLOW_METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
ALLOW_HEADERS: Final = (
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "X-Request-ID",
    "Accept-Language",
    "If-None-Match",
)
EXPOSE_HEADERS: Final = ("Location", "Retry-After", "X-Request-ID", "ETag", "Content-Language")
MAX_AGE_SECONDS: Final = 600


def parse_origins(raw: str | None, *, production: bool) -> frozenset[str]:
    """The allow-list from ``PLATFORM_CORS_ORIGINS`` (``None``: the environment's default)."""
    if raw is None:
        return frozenset() if production else frozenset(DEV_ORIGINS)
    return frozenset(o.strip().rstrip("/") for o in raw.split(",") if o.strip())


class CORSMiddleware:
    """Grant the origins in ``origins`` (exact matches of scheme, host and port)."""

    def __init__(self, app: ASGIApp, origins: Iterable[str]) -> None:
        self.app = app
        self.origins = frozenset(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_origin = headers.get(b"origin")
        if raw_origin is None:
            await self.app(scope, receive, send)
            return
        origin = raw_origin.decode("latin-1")
        allowed = origin in self.origins
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            await self._preflight(scope, receive, send, origin, allowed)
            return

        async def granting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers.add_vary_header("Origin")
                if allowed:
                    response_headers["Access-Control-Allow-Origin"] = origin
                    response_headers["Access-Control-Expose-Headers"] = ", ".join(EXPOSE_HEADERS)
            await send(message)

        await self.app(scope, receive, granting_send)

    async def _preflight(
        self, scope: Scope, receive: Receive, send: Send, origin: str, allowed: bool
    ) -> None:
        if not allowed:
            response = problem_response(
                scope.get("path"),
                403,
                "cors-origin-not-allowed",
                "Origin not allowed",
                f"cross-origin requests from {origin} are not allowed",
                headers={"Vary": "Origin"},
            )
            await response(scope, receive, send)
            return
        grant = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", ", ".join(ALLOW_METHODS).encode()),
            (b"access-control-allow-headers", ", ".join(ALLOW_HEADERS).encode()),
            (b"access-control-max-age", str(MAX_AGE_SECONDS).encode()),
            (b"vary", b"Origin"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": grant})
        await send({"type": "http.response.body", "body": b""})
