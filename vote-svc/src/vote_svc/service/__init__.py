"""vote-svc's use cases, one module per sub-domain. They never commit: the request or consumer
boundary owns the transaction (``services.db``).

- :mod:`.refusals` -- why a cast was refused (the problems, and the query that finds out which),
- :mod:`.receipts` -- an accepted vote as its voter is told about it, and reading one's own vote,
- :mod:`.ballots` -- forum ballots,
- :mod:`.tallies` -- the public counts of proposals and forums,
- :mod:`.records` -- a target's vote rows for the ledger's audit,
- :mod:`.mine` -- a citizen's own votes with their ledger status, and the ledger's batches,
- :mod:`.read_models` -- the targets and suspensions fed by other services' events.

Casting itself (agreements and ballots alike) is the one statement of :mod:`vote_svc.hot_path`,
which bypasses the session on purpose.
"""
