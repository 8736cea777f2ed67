"""ledger-svc's composition root: the one place that reads the settings and builds the context
the API (``main.create_app``), the workers (``consume``, ``audit``) and the command line share."""

from __future__ import annotations

from dataclasses import dataclass

from ledger_svc.backend import FabricBackend, LedgerBackend, LocalBackend
from ledger_svc.config import LedgerSettings, get_settings
from ledger_svc.fabric import RetryPolicy, Timeouts
from services.bootstrap import ServiceContext
from services.clock import Clock, SystemClock


@dataclass(frozen=True)
class LedgerContext(ServiceContext[LedgerSettings]):
    """What the ledger's use cases need besides the session: where batches are anchored and the
    key that encrypts the tree-head signing keys at rest.

    The backend holds connections (Fabric); whoever built the context closes it
    (``backend.aclose()``) when done."""

    backend: LedgerBackend
    kek: bytes


def build_backend(settings: LedgerSettings) -> LedgerBackend:
    """The configured backend (Fabric: nothing is dialled until first use)."""
    if settings.backend == "local":
        return LocalBackend()
    assert settings.fabric_profile is not None  # checked by the settings
    return FabricBackend.connect(
        str(settings.fabric_profile),
        org=settings.fabric_org,
        timeouts=Timeouts(
            evaluate=settings.fabric_evaluate_timeout,
            endorse=settings.fabric_endorse_timeout,
            submit=settings.fabric_submit_timeout,
            commit=settings.fabric_commit_timeout,
        ),
        retry=RetryPolicy(budget_seconds=settings.fabric_retry_seconds),
        page_size=settings.fabric_page_size,
    )


def bootstrap(
    settings: LedgerSettings | None = None,
    *,
    clock: Clock | None = None,
    backend: LedgerBackend | None = None,
) -> LedgerContext:
    """The context of ledger-svc: ``settings`` (default: from the environment), the system clock
    unless ``clock`` is given, and the configured backend unless ``backend`` is given."""
    settings = settings or get_settings()
    return LedgerContext(
        settings=settings,
        clock=clock or SystemClock(),
        backend=backend or build_backend(settings),
        kek=settings.kek,
    )
