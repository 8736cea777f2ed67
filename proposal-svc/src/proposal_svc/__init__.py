"""proposal-svc."""
