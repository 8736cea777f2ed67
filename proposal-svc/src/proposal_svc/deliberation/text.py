"""What a comment's text may be: NFC, trimmed, within its length, visible, and free of control
characters (newline and tab excepted). Korean, every other script and emoji are welcome.

We store and return plain text; nothing here escapes or strips HTML, because nothing we serve
renders it (docs/deliberation.md, "Text").
"""

from __future__ import annotations

import unicodedata
from typing import Final

from services.problems import ProblemError

#: Bidirectional embeddings, overrides and isolates: invisible, and able to make a text read
#: differently from what it holds (the "Trojan Source" trick). Refused like control characters.
BIDI_CONTROLS: Final = frozenset(
    [chr(c) for c in range(0x202A, 0x202F)] + [chr(c) for c in range(0x2066, 0x206A)]
)
#: Hangul fillers render as nothing: a text made only of them is empty to the reader.
_INVISIBLE: Final = frozenset("\u115f\u1160\u3164\uffa0")
_ALLOWED_CONTROLS: Final = frozenset("\n\t")


def _refused(char: str) -> bool:
    if char in _ALLOWED_CONTROLS:
        return False
    # Cc: C0/C1 controls (NUL, ESC, DEL...); Cs: lone surrogates, which JSON escapes can carry
    # and which PostgreSQL cannot store.
    return unicodedata.category(char) in ("Cc", "Cs") or char in BIDI_CONTROLS


def _visible(char: str) -> bool:
    return not (char.isspace() or char in _INVISIBLE or unicodedata.category(char) == "Cf")


def clean_text(value: str, *, field: str, max_chars: int) -> str:
    """``value`` as stored: line breaks as ``\\n``, NFC, trimmed. 422 problems:
    ``invalid-characters`` (a control character other than newline or tab, a lone surrogate, a
    bidirectional override), ``empty-text`` (nothing visible), ``text-too-long`` (more than
    ``max_chars`` code points after normalisation)."""
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n")).strip()
    bad = next((char for char in text if _refused(char)), None)
    if bad is not None:
        raise ProblemError(
            422,
            "invalid-characters",
            "Text contains control characters",
            f"{field} contains U+{ord(bad):04X}; only newline and tab are allowed among "
            "control characters.",
            field=field,
        )
    if not any(_visible(char) for char in text):
        raise ProblemError(
            422, "empty-text", "Text is empty", f"{field} has no visible characters", field=field
        )
    if len(text) > max_chars:
        raise ProblemError(
            422,
            "text-too-long",
            "Text too long",
            f"{field} has {len(text)} characters; at most {max_chars}.",
            field=field,
            max_chars=max_chars,
        )
    return text
