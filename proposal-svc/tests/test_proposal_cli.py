"""The ``proposal-svc`` command line: its commands build the context with bootstrap() and call
the use cases."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select

from proposal_svc import cli, service
from proposal_svc.bootstrap import bootstrap
from proposal_svc.config import ProposalSettings, get_settings
from proposal_svc.models import Proposal
from proposal_svc.schemas import ProposalCreate
from services.auth import Principal
from services.db import create_engine, create_sessionmaker, transaction


async def _propose_unindexed(settings: ProposalSettings) -> uuid.UUID:
    engine = create_engine(settings.database_url)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            proposal = await service.proposals.create_proposal(
                session,
                bootstrap(settings),
                Principal(uuid.uuid4(), frozenset({"citizen"}), None, "t"),
                ProposalCreate(title="공공자전거 대여소", body="늘려주세요", category="transport"),
                lemmas=[],
                search_text="",
            )
            return proposal.id
    finally:
        await engine.dispose()


async def _lemmas(settings: ProposalSettings, proposal_id: uuid.UUID) -> list[str]:
    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            lemmas = await session.scalar(select(Proposal.lemmas).where(Proposal.id == proposal_id))
            return list(lemmas or [])
    finally:
        await engine.dispose()


def test_reindex_command_recomputes_the_search_fields(
    proposal_settings: ProposalSettings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    proposal_id = asyncio.run(_propose_unindexed(proposal_settings))
    monkeypatch.setenv("PROPOSAL_DATABASE_URL", proposal_settings.database_url)
    get_settings.cache_clear()  # the command reads the environment, as in production
    try:
        assert cli.main(["reindex", "--batch", "10"]) == 0
    finally:
        get_settings.cache_clear()
    assert capsys.readouterr().out.strip() == "reindexed 1 proposals"
    assert "따릉이" in asyncio.run(_lemmas(proposal_settings, proposal_id))  # synonym folded
