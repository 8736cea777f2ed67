"""notify-svc."""
