"""proposal-svc's use cases, one module per sub-domain:

- :mod:`~proposal_svc.service.proposals`: submit, read, list, timeline, withdraw, hide, the
  status change every other module goes through, reindexing the search fields;
- :mod:`~proposal_svc.service.adoption`: the committee's decisions and grouping;
- :mod:`~proposal_svc.service.tallies`: agreement tallies, crossing tiers, the obligations they
  create, and the answers that fulfil them;
- :mod:`~proposal_svc.service.forums`: forums created by staff or opened by a tier, their
  tallies, closing them;
- :mod:`~proposal_svc.service.tick`: the time-driven transitions of the worker.

Use cases take the caller's session and never commit: the request, consumer or worker boundary
owns the transaction (``services.db``), so a state change and its outbox rows commit together.
Their queries are in :mod:`proposal_svc.repository`.
"""

from proposal_svc.service import adoption, forums, proposals, tallies, tick

__all__ = ["adoption", "forums", "proposals", "tallies", "tick"]
