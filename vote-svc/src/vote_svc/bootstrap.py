"""vote-svc's composition root: the one place that reads the settings and builds the context the
API (``main.create_app``), the consumers (``vote-svc consume``) and the command line share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.bootstrap import ServiceContext
from services.clock import Clock, SystemClock
from vote_svc.config import VoteSettings, get_settings


@dataclass(frozen=True)
class VoteContext(ServiceContext[VoteSettings]):
    """What vote-svc's use cases need besides the session. The keys are left out of the
    ``repr`` (a context may end up in a log line or a traceback)."""

    #: ``k_ledger``, the HMAC key of voter tags.
    tag_key: bytes = field(repr=False)
    #: Caller name -> key of the services allowed to call ``/internal/*``.
    internal_keys: Mapping[str, bytes] = field(repr=False)
    #: The secret the integrity signals' month keys derive from (``integrity.signals``).
    signal_key: bytes = field(repr=False)


def bootstrap(settings: VoteSettings | None = None, *, clock: Clock | None = None) -> VoteContext:
    """The context of this process: ``settings`` (default: from the environment) and ``clock``
    (default: the system clock; tests pass a ``ManualClock``)."""
    settings = settings or get_settings()
    return VoteContext(
        settings=settings,
        clock=clock or SystemClock(),
        tag_key=settings.tag_key,
        internal_keys=settings.internal_key_bytes,
        signal_key=settings.signal_key_bytes,
    )
