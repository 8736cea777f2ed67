"""Helpers for proposal-svc tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from proposal_svc.bootstrap import ProposalContext
from proposal_svc.main import create_app
from services_dev.testing.tokens import TestTokens

BODY = {
    "title": "따릉이 대여소를 늘려주세요",
    "body": "출퇴근 시간에 역 앞 대여소에 자전거가 없습니다. 대여소와 거치대를 늘려주세요.",
    "category": "transport",
    "district": "마포구",
}


async def propose(
    client: httpx.AsyncClient, tokens: TestTokens, author: uuid.UUID | None = None, **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/proposals", json={**BODY, **overrides}, headers=tokens.headers(author)
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def proposal_app(ctx: ProposalContext, tokens: TestTokens) -> FastAPI:
    """proposal-svc trusting ``tokens`` and asking their stand-in identity-svc (every citizen a
    token is issued for, active with its roles) for current roles and suspension."""

    def key_source(_: Any) -> TestTokens:
        return tokens

    app = create_app(ctx, key_source=key_source)
    assert tokens.identity is not None, "TestTokens(identity=StandInIdentity())"
    app.state.identity_status = tokens.identity.client("proposal-svc")
    return app
