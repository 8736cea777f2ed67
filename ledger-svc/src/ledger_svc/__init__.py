"""ledger-svc."""
