"""The ledger suite's fixtures (ledger-svc/tests/ledger_fixtures.py) for the tests that run the
ledger together with another service: each runs against both backends, as the ledger's own do."""

from __future__ import annotations

# Fixtures and the hook register under the names a conftest module holds.
from ledger_fixtures import (
    ctx,
    fabric_network,
    ledger_backend,
    ledger_settings,
    ledger_template,
    pytest_runtest_protocol,
    sessions,
)

__all__ = [
    "ctx",
    "fabric_network",
    "ledger_backend",
    "ledger_settings",
    "ledger_template",
    "pytest_runtest_protocol",
    "sessions",
]
