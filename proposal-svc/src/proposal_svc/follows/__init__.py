"""Follows: the citizens who want to hear about a proposal (docs/proposals.md, "Follows").

A citizen follows a proposal by asking (``PUT /v1/proposals/{id}/follow``), by agreeing with it
(unless their preference says not to: ``GET/PUT /v1/proposals/follow-preferences``; agreeing is
learnt from ``vote.tally_changed``, which carries the agreeing citizen on proposal tallies) and by
proposing it. Unfollowing keeps the row with ``following = false``, so that an agreement applied
later (the tally consumer runs behind the request) does not follow again what the citizen left.
notify-svc reads the followers through the signed internal API (``internal``).

The modules: ``routes`` and ``internal`` (HTTP), ``schemas`` (bodies), ``following`` (the use
cases), ``repository`` (their queries), ``models`` (the tables). This ``__init__`` imports
nothing.
"""
