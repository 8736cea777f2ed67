"""Unknown query parameters are refused, not silently ignored: ``GET /v1/proposals?autor=me``
(a typo) answers 422 ``unknown-query-parameter`` naming ``autor`` and the parameters the route
takes, instead of an unfiltered list that looks like an answer.

Applied to every GET route of every service as an app-level dependency (services.app), so it runs
before the route's own dependencies and endpoint: nothing is read or written for a refused
request. What a route takes is what its OpenAPI operation declares (``in: query`` parameters,
aliases included), read once per process from the app's own document, so the check and the
published contract cannot disagree. Routes left out of the document (the docs pages) are not
checked.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request

from services.problems import ProblemError

CHECKED_METHODS = frozenset({"GET"})


class UnknownQueryParameter(ProblemError):
    """422: the request names query parameters the route does not take."""

    def __init__(self, unknown: list[str], allowed: list[str]) -> None:
        super().__init__(
            422,
            "unknown-query-parameter",
            "Unknown query parameter",
            f"this route takes no query parameter {', '.join(map(repr, unknown))}"
            + (f"; it takes: {', '.join(allowed)}" if allowed else "; it takes none"),
            unknown=unknown,
            allowed=allowed,
        )


def declared_query_parameters(app: FastAPI) -> dict[tuple[str, str], frozenset[str]]:
    """``(path template, METHOD)`` → the query parameters its OpenAPI operation declares."""
    cached: dict[tuple[str, str], frozenset[str]] | None = getattr(
        app.state, "declared_query_parameters", None
    )
    if cached is not None:
        return cached
    declared: dict[tuple[str, str], frozenset[str]] = {}
    for path, item in app.openapi().get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            parameters: list[dict[str, Any]] = operation.get("parameters", [])
            names = frozenset(p["name"] for p in parameters if p.get("in") == "query")
            declared[(path, method.upper())] = names
    app.state.declared_query_parameters = declared
    return declared


async def reject_unknown_query_parameters(request: Request) -> None:
    """The app-level dependency: 422 for a query parameter the matched route does not declare."""
    if request.method not in CHECKED_METHODS or not request.query_params:
        return
    route = request.scope.get("route")
    path = getattr(route, "path_format", None)
    if path is None:
        return
    allowed = declared_query_parameters(request.app).get((path, request.method))
    if allowed is None:  # not in the document
        return
    unknown = sorted({key for key in request.query_params if key not in allowed})
    if unknown:
        raise UnknownQueryParameter(unknown, sorted(allowed))
