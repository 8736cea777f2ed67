"""Alembic environment of proposal-svc."""

from proposal_svc import models  # noqa: F401  (registers the tables on Base.metadata)
from proposal_svc.deliberation import models as deliberation_models  # noqa: F401  (and these)
from proposal_svc.follows import models as follows_models  # noqa: F401  (and these)
from proposal_svc.milestones import models as milestone_models  # noqa: F401  (and these)
from services.db import Base
from services.migrations import run_env

run_env(Base.metadata)
