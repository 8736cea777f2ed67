"""Migration 0002_deliberation creates exactly what the models (and services.ratelimit) declare,
and goes down and up again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from proposal_svc import models
from proposal_svc.config import ProposalSettings
from proposal_svc.deliberation import models as deliberation_models
from proposal_svc.follows import models as follows_models
from proposal_svc.milestones import models as milestone_models
from services.db import Base, create_engine, to_plain_url
from services.migrations import alembic_config
from services.ratelimit import rate_limits

MIGRATIONS = Path(__file__).parents[1] / "src" / "proposal_svc" / "migrations"


def _differences(connection: Connection) -> list[Any]:
    # proposal-svc's tables only (other packages' models may share Base.metadata here), and the
    # rate-limit counters, which services.ratelimit keeps off the ORM metadata.
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    for module in (models, deliberation_models, follows_models, milestone_models):
        for name in module.__all__:
            table = getattr(getattr(module, name), "__table__", None)
            if table is not None and table.name not in metadata.tables:
                table.to_metadata(metadata)
    rate_limits.to_metadata(metadata)
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    differences: list[Any] = compare_metadata(context, metadata)
    return differences


async def test_the_migrations_create_exactly_the_models(
    proposal_settings: ProposalSettings,
) -> None:
    engine = create_engine(proposal_settings.database_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        await engine.dispose()


def test_the_deliberation_migration_goes_down_and_up(proposal_settings: ProposalSettings) -> None:
    from alembic import command

    config = alembic_config(MIGRATIONS, to_plain_url(proposal_settings.database_url))
    command.downgrade(config, "0001")
    command.upgrade(config, "head")
