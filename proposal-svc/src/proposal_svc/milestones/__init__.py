"""Implementation tracking: the milestones staff publish on an adopted or budget-linked
proposal, shown on its public timeline and announced as ``proposal.milestone_published``
(docs/proposals.md, "Implementation tracking")."""
