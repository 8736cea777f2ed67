"""Test helpers shared by every service's tests (fixtures live in :mod:`services_dev.testing.plugin`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI


@contextlib.asynccontextmanager
async def running_app(
    app: FastAPI, *, base_url: str = "http://testserver"
) -> AsyncIterator[httpx.AsyncClient]:
    """Run ``app``'s lifespan and give a client that talks to it in-process."""
    async with app.router.lifespan_context(app):
        # Like a real server: an unhandled error is answered (500 problem) and logged, not raised.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client
