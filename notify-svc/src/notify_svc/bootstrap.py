"""notify-svc's composition root: the one place that reads the settings and builds the context
that the API, the workers and the command line receive."""

from __future__ import annotations

from dataclasses import dataclass

from notify_svc.config import NotifySettings, get_settings
from notify_svc.dispatch.policy import DispatchPolicy
from services.bootstrap import ServiceContext
from services.clock import Clock, SystemClock


@dataclass(frozen=True)
class NotifyContext(ServiceContext[NotifySettings]):
    """notify-svc's settings, its clock (which stamps every row a request, a consumer or the
    dispatcher changes) and the dispatcher's numbers."""

    policy: DispatchPolicy


def bootstrap(
    settings: NotifySettings | None = None,
    *,
    clock: Clock | None = None,
    policy: DispatchPolicy | None = None,
) -> NotifyContext:
    """The context of ``settings`` (default: from the environment), with ``clock`` (default: the
    system's) and ``policy`` (default: from the settings); tests pass their own."""
    settings = settings or get_settings()
    return NotifyContext(
        settings=settings,
        clock=clock or SystemClock(),
        policy=policy or DispatchPolicy.from_settings(settings),
    )
