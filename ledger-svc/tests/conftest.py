"""ledger-svc fixtures (defined in ledger_fixtures.py, which tests/integration/ledger shares):
a migrated database per test and the ledger context.

Every test that uses the ledger (``ledger_settings``, ``ctx``, ``client``...) runs twice: against
the ``local`` backend and against ``fabric``, a real two-organisation Fabric network started once
per session by ``deploy/fabric/fabric.sh up`` in ``.data/fabric-test`` with ports +200, and
stopped (``down``, data kept) at the end. If the network cannot start, the fabric tests fail
(they are never skipped)."""

from __future__ import annotations

# Fixtures and the hook register under the names a conftest module holds.
from ledger_fixtures import (
    client,
    ctx,
    fabric_network,
    ledger_backend,
    ledger_settings,
    ledger_template,
    pytest_runtest_protocol,
    sessions,
)

__all__ = [
    "client",
    "ctx",
    "fabric_network",
    "ledger_backend",
    "ledger_settings",
    "ledger_template",
    "pytest_runtest_protocol",
    "sessions",
]
