"""Reading ``deploy/local/Procfile``: one ``name: command`` per line, ``#`` comments."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcfileEntry", "ProcfileError", "read_procfile"]

_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")


class ProcfileError(ValueError):
    """The Procfile cannot be read or has a line that is not ``name: command``."""


@dataclass(frozen=True)
class ProcfileEntry:
    """One process of the Procfile: its name and its shell command (``$VARIABLES`` allowed)."""

    name: str
    command: str


def read_procfile(path: Path) -> list[ProcfileEntry]:
    """The entries of ``path`` in file order; refuses malformed lines and repeated names."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProcfileError(f"cannot read the Procfile {path}: {exc}") from None
    entries: list[ProcfileEntry] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ProcfileError(f"{path}:{number}: expected 'name: command', got {raw!r}")
        name, command = match.group(1), match.group(2).strip()
        if name in seen:
            raise ProcfileError(f"{path}:{number}: process {name!r} is defined twice")
        seen.add(name)
        entries.append(ProcfileEntry(name, command))
    if not entries:
        raise ProcfileError(f"{path} defines no process")
    return entries
