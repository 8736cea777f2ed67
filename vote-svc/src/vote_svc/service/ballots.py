"""Forum ballots: one per citizen per forum, for one of the forum's options, while it is open.

A ballot is cast by the same one statement as an agreement (:mod:`vote_svc.hot_path`), which
also checks that the choice is one of the options; ``refusals`` says why when it is not.
"""

from __future__ import annotations

import uuid

from vote_svc import hot_path
from vote_svc.hot_path import BallotBox
from vote_svc.integrity.limits import Caster
from vote_svc.service.receipts import CastVote


async def cast_ballot(
    box: BallotBox,
    citizen_id: uuid.UUID,
    *,
    forum_id: uuid.UUID,
    choice: str,
    caster: Caster | None = None,
    facts: hot_path.VoterFacts = hot_path.NO_FACTS,
) -> CastVote:
    """Record ``citizen_id``'s ballot in a forum (``choice`` already NFC-normalised)."""
    return await hot_path.cast_vote(
        box, citizen_id, "forum", forum_id, choice, caster=caster, facts=facts
    )
