"""Follows' HTTP surface, as ``main.create_app`` includes it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from proposal_svc.follows.internal import internal_routes
from proposal_svc.follows.routes import follow_routes

#: Included before the proposals router (its ``/{proposal_id}`` would take the static paths).
ROUTERS: tuple[APIRouter, ...] = (follow_routes, internal_routes)
OPENAPI_TAGS: list[dict[str, Any]] = [
    {"name": "follows", "description": "Following proposals, and the follow preferences"},
    {
        "name": "internal",
        "description": (
            "Service-to-service reads (notify-svc, vote-svc), signed per request with a shared key "
            "(docs/internal-api.md); not routed by the public entry point"
        ),
    },
]
