"""Writing a benchmark's figures into its marked section of a report (docs/BENCHMARKS.md,
docs/performance.md), shared by the benchmark scripts."""

from __future__ import annotations

from pathlib import Path

#: What docs/BENCHMARKS.md starts with when a benchmark creates it.
BENCHMARKS_HEADER = (
    "# Benchmarks\n\nFigures are measured by `make bench`; each section names its command.\n"
)


def replace_section(path: Path, begin: str, end: str, section: str, *, empty: str = "") -> None:
    """Replace the text from ``begin`` to ``end`` (markers included) with ``section``, or append
    ``section`` when the markers are not there; ``empty`` is the text of a report that does not
    exist yet."""
    text = path.read_text() if path.exists() else empty
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section + "\n"
    path.write_text(text)
