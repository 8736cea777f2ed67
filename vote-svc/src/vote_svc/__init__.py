"""vote-svc."""
