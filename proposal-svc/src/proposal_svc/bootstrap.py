"""proposal-svc's composition root: the one place that reads the settings and builds the context
the API, the workers and the command line hand to the use cases."""

from __future__ import annotations

from dataclasses import dataclass

from proposal_svc.config import ProposalSettings, get_settings
from services.bootstrap import ServiceContext
from services.clock import Clock, SystemClock


@dataclass(frozen=True)
class ProposalContext(ServiceContext[ProposalSettings]):
    """What the use cases need besides the session: the settings (tier rules, periods, limits)
    and the clock every rule reads "now" from."""


def bootstrap(
    settings: ProposalSettings | None = None, *, clock: Clock | None = None
) -> ProposalContext:
    """The context of this process: ``settings`` (default: from the environment) and ``clock``
    (default: the system clock; tests pass a ``ManualClock``)."""
    return ProposalContext(settings=settings or get_settings(), clock=clock or SystemClock())
