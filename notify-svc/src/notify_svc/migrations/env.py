"""Alembic environment of notify-svc."""

from notify_svc import models  # noqa: F401  (registers the tables on Base.metadata)
from services.db import Base
from services.migrations import run_env

run_env(Base.metadata)
