"""identity-svc."""
