"""Abuse limits and integrity signals of votes (docs/abuse-limits.md, docs/integrity.md)."""
