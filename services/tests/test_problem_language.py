"""Problem titles and details in Korean for ``Accept-Language: ko`` (or the configured default),
English otherwise; the ``type`` slug and the extension members never change."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from services.app import ServiceSpec, create_service_app
from services.auth import CurrentPrincipal
from services.config import ServiceSettings
from services.problem_language import preferred_language
from services.problems import ProblemError
from services_dev.testing import running_app

BASE = "https://democracy.seoul.example/problems/"
router = APIRouter()


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str


@router.post("/things")
async def create(body: Body) -> Body:
    return body


@router.get("/conflict")
async def conflict() -> None:
    raise ProblemError(409, "already-voted", "Already voted", "the first vote stands", vote_id="v")


@router.get("/uncatalogued")
async def uncatalogued() -> None:
    raise ProblemError(409, "planted-slug", "Planted", "not in the catalogue")


@router.get("/mine")
async def mine(principal: CurrentPrincipal) -> None:
    raise AssertionError("never reached without a token")


AppFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def make_client(service_env: dict[str, str]) -> AppFactory:
    def make(**overrides: str) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        settings = ServiceSettings(
            service_name="test-svc",
            database_url=service_env["database_url"],
            nats_url=service_env["nats_url"],
            max_body_bytes=2048,
            **overrides,  # type: ignore[arg-type]
        )
        app = create_service_app(
            settings, ServiceSpec(title="test-svc", description="t", routers=[router])
        )
        return running_app(app)

    return make


@pytest.fixture
async def client(make_client: AppFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as c:
        yield c


KO = {"Accept-Language": "ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7"}


async def test_a_domain_problem_is_korean_for_a_korean_browser(client: httpx.AsyncClient) -> None:
    english = await client.get("/conflict")
    korean = await client.get("/conflict", headers=KO)
    assert english.json()["title"] == "Already voted"
    assert english.headers["content-language"] == "en"
    body = korean.json()
    assert body["type"] == english.json()["type"] == BASE + "already-voted"
    assert body["title"] == "이미 참여함"
    assert "처음 한 참여" in body["detail"]
    assert body["vote_id"] == "v"
    assert body["status"] == 409
    assert korean.headers["content-language"] == "ko"
    assert "Accept-Language" in korean.headers["vary"]


async def test_validation_and_library_problems_are_korean_too(client: httpx.AsyncClient) -> None:
    invalid = (await client.post("/things", json={"title": 1, "extra": 2}, headers=KO)).json()
    assert invalid["type"] == BASE + "validation-error"
    assert invalid["title"] == "요청 값 오류"
    assert "body.title" in invalid["detail"]
    assert "body.extra" in invalid["detail"]
    assert invalid["errors"]  # extension members unchanged
    headers = {**KO, "Content-Type": "application/json"}
    malformed = (await client.post("/things", content=b"{", headers=headers)).json()
    assert malformed["title"] == "JSON 형식 오류"
    big = await client.post("/things", content=b"x" * 4096, headers=KO)
    assert big.status_code == 413
    assert big.json()["detail"] == "요청 본문은 2048바이트를 넘을 수 없습니다."
    unknown = (await client.get("/no-such-path", headers={"Accept-Language": "ko"})).json()
    assert unknown["type"] == BASE + "not-found"
    assert unknown["title"] == "찾을 수 없음"
    token = (await client.get("/mine", headers=KO)).json()
    assert token["type"] == BASE + "invalid-token"
    assert token["title"] == "액세스 토큰 없음 또는 무효"


async def test_a_slug_missing_from_the_catalogue_stays_english(client: httpx.AsyncClient) -> None:
    body = (await client.get("/uncatalogued", headers=KO)).json()
    assert (body["title"], body["detail"]) == ("Planted", "not in the catalogue")


async def test_the_default_language_is_configurable(make_client: AppFactory) -> None:
    async with make_client(problem_language="ko") as client:
        assert (await client.get("/conflict")).json()["title"] == "이미 참여함"
        english = await client.get("/conflict", headers={"Accept-Language": "en-GB"})
        assert english.json()["title"] == "Already voted"
        other = await client.get("/conflict", headers={"Accept-Language": "fr-FR"})
        assert other.json()["title"] == "이미 참여함"


def test_accept_language_is_read_with_its_qualities() -> None:
    assert preferred_language(None, "en") == "en"
    assert preferred_language("ko", "en") == "ko"
    assert preferred_language("KO-kr", "en") == "ko"
    assert preferred_language("en;q=0.5, ko;q=0.8", "en") == "ko"
    assert preferred_language("ko;q=0.2, en", "ko") == "en"
    assert preferred_language("ko;q=0, fr", "en") == "en"
    assert preferred_language("fr, de", "ko") == "ko"
    assert preferred_language("*", "ko") == "ko"
    assert preferred_language("ko;q=abc", "en") == "en"
