"""Deliberation's HTTP surface, as ``main.create_app`` includes it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from proposal_svc.deliberation.routes import comment_routes, opinion_routes
from proposal_svc.deliberation.routes_moderation import moderation_routes

ROUTERS: tuple[APIRouter, ...] = (comment_routes, opinion_routes, moderation_routes)
OPENAPI_TAGS: list[dict[str, Any]] = [
    {"name": "comments", "description": "Comments on proposals, replies, likes, reports"},
    {"name": "opinions", "description": "Forum opinions with a stance, and the stance counts"},
    {"name": "moderation", "description": "The moderation queue, hiding and restoring, decisions"},
]
