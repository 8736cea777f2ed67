"""Every operation that needs an access token declares ``bearerAuth`` in the OpenAPI documents
(so generated clients send it) and no public one does: checked route by route against the
route's dependencies (services.auth.current_principal, which every token check goes through:
require_roles, require_live_roles, require_eligible, ...)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from generate import APPS, platform_document

from services.auth import current_principal

BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
APPS_BUILT: dict[str, FastAPI] = {name: factory() for name, factory in APPS.items()}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def _needs_token(route: Any) -> bool:
    return current_principal in set(_calls(route.dependant))


def _routes(app: FastAPI) -> Iterator[Any]:
    """Every API route of ``app`` as it is served (with its routers' prefixes and dependencies)."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute) and context.include_in_schema:
            yield context


def _operations(app: FastAPI) -> Iterator[tuple[Any, str, dict[str, Any]]]:
    document = app.openapi()
    for route in _routes(app):
        for method in route.methods:
            yield route, method, document["paths"][route.path_format][method.lower()]


@pytest.mark.parametrize("service", sorted(APPS_BUILT))
def test_every_route_declares_bearer_auth_exactly_when_it_needs_a_token(service: str) -> None:
    app = APPS_BUILT[service]
    checked = {True: 0, False: 0}
    for route, method, operation in _operations(app):
        where = f"{service} {method} {route.path_format}"
        needs = _needs_token(route)
        checked[needs] += 1
        if needs:
            assert operation.get("security") == BEARER, f"{where}: needs a token, no bearerAuth"
            assert "401" in operation["responses"], f"{where}: 401 not documented"
        else:
            assert "security" not in operation, f"{where}: public, but declares {operation}"
    assert checked[False], f"{service}: no public operation found"
    if service != "ledger-svc":  # the ledger is public from end to end
        assert checked[True], f"{service}: no protected operation found"
    schemes = app.openapi()["components"].get("securitySchemes", {})
    if checked[True]:
        assert schemes["bearerAuth"] == {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": schemes["bearerAuth"]["description"],
        }


def test_known_routes_are_classified_as_expected() -> None:
    # A check that cannot fail is no check: a few routes whose answer we know.
    known = {
        ("identity-svc", "/v1/identity/me"): True,
        ("identity-svc", "/v1/identity/verifications"): False,
        ("identity-svc", "/.well-known/jwks.json"): False,
        ("vote-svc", "/v1/votes/agreements"): True,
        ("ledger-svc", "/v1/ledger/head"): False,
    }
    for (service, path), needs in known.items():
        (route,) = [r for r in _routes(APPS_BUILT[service]) if r.path_format == path][:1]
        assert _needs_token(route) is needs, (service, path)


def test_the_platform_document_declares_bearer_auth() -> None:
    merged = platform_document({name: app.openapi() for name, app in APPS_BUILT.items()})
    assert merged["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    me = merged["paths"]["/v1/identity/me"]["get"]
    assert me["security"] == BEARER
    assert "security" not in merged["paths"]["/.well-known/jwks.json"]["get"]
