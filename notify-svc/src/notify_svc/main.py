"""notify-svc app factory.

Only the common operations endpoints exist so far (``/healthz``, ``/readyz``, ``/metrics``);
the domain endpoints come with their issue. Nothing here pretends to implement them.
"""

from __future__ import annotations

from fastapi import FastAPI

from notify_svc.config import NotifySettings, get_settings
from services.app import ServiceSpec, create_service_app


def create_app(settings: NotifySettings | None = None) -> FastAPI:
    """Build notify-svc."""
    return create_service_app(
        settings or get_settings(),
        ServiceSpec(
            title="notify-svc",
            description="KakaoTalk AlimTalk with SMS/LMS fallback, preferences and delivery reports. Endpoints arrive with the notification issue.",
        ),
    )
