"""Small-cell suppression for published breakdowns (k-anonymity of counts of people).

A breakdown (counts of people per cell: an age band, a district) is published only for cells
that hold at least ``k`` people. Suppressing the small cells alone is not enough when the total
is published too: a single suppressed cell would be the total minus the others. So when exactly
one cell is suppressed, the next smallest is suppressed with it (secondary suppression), and
when the total itself is under ``k`` everything is, the total included. Suppressed cells are
``None`` (published as ``null`` with ``"suppressed": true``), never zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

#: The smallest number of people a published cell may hold (docs/statistics.md).
K_DEFAULT: Final = 10


@dataclass(frozen=True)
class Suppressed:
    """A breakdown as published: each cell's count or ``None``, and the total or ``None``."""

    cells: dict[str, int | None]
    total: int | None


def suppress(counts: Mapping[str, int], k: int = K_DEFAULT) -> Suppressed:
    """``counts`` with every cell under ``k`` suppressed, plus secondary suppression."""
    total = sum(counts.values())
    if total < k:
        return Suppressed(dict.fromkeys(counts), None)
    small = {key for key, n in counts.items() if n < k}
    if len(small) == 1:
        rest = sorted((n, key) for key, n in counts.items() if key not in small)
        if rest:
            small.add(rest[0][1])
    return Suppressed({key: (None if key in small else n) for key, n in counts.items()}, total)
