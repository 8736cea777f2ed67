"""Alembic environment of vote-svc."""

from services.db import Base
from services.migrations import run_env
from vote_svc import models  # noqa: F401  (registers the tables on Base.metadata)

run_env(Base.metadata)
