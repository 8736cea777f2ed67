"""The baseline of the agreement benchmark: the least a FastAPI service can do per agreement.

One uvicorn worker (started like vote-svc's API: ``uvicorn bench_baseline_app:create_app
--factory --no-access-log``), a pydantic-validated JSON body, and one raw asyncpg ``INSERT`` per
request from an asyncpg pool into a table of its own in a database of its own on the platform's
PostgreSQL (``BENCH_BASELINE_DSN``). No authentication, no middleware, no ORM, no events: the
ratio of the platform's agreements/s to this app's inserts/s is what the platform's own work
costs.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

import asyncpg
from fastapi import FastAPI, Request
from pydantic import BaseModel

TABLE_DDL: Final = """
CREATE TABLE IF NOT EXISTS baseline_agreements (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    proposal_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""
INSERT_SQL: Final = "INSERT INTO baseline_agreements (proposal_id) VALUES ($1) RETURNING id"


class AgreementIn(BaseModel):
    proposal_id: uuid.UUID


def create_app() -> FastAPI:
    """The app; its pool is sized like a service's (10 connections, up to 30). It creates its
    table when it starts."""
    dsn = os.environ["BENCH_BASELINE_DSN"]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(dsn, min_size=10, max_size=30)
        await app.state.pool.execute(TABLE_DDL)
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(title="bench-baseline", lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/votes/agreements", status_code=201)
    async def agree(body: AgreementIn, request: Request) -> dict[str, Any]:
        row_id = await request.app.state.pool.fetchval(INSERT_SQL, body.proposal_id)
        return {"id": row_id, "proposal_id": str(body.proposal_id)}

    return app
