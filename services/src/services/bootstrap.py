"""The shape of a service's composition root.

Each service has one ``<svc>_svc/bootstrap.py`` whose ``bootstrap()`` reads the settings once and
builds the service's context -- a frozen dataclass deriving from :class:`ServiceContext` that
carries the settings, the one :class:`~services.clock.Clock` and whatever the service's use cases
need (keys, rules, backends). The API (``main.create_app``), the workers and the command line
receive that context instead of calling ``get_settings()`` themselves; tests build one with
their own settings and clock.

Database engines and NATS connections are not in the context: they belong to the process that
runs in an event loop (the API's lifespan, ``services.worker.run_worker``), which creates them
from ``ctx.settings`` and hands out sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from services.clock import Clock
from services.config import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


@dataclass(frozen=True)
class ServiceContext(Generic[S]):
    """What every service's context holds: its settings and its clock."""

    settings: S
    clock: Clock
