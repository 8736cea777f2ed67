"""SMS/LMS text rules: byte counting in cp949, making any text sendable, SMS-or-LMS choice.

Korean carriers (and NHN Cloud SMS, Solapi) count message length in EUC-KR bytes: an SMS body
holds 90 bytes, an LMS body 2,000 bytes and an LMS title 40 bytes; a character the encoding
cannot represent (emoji, many symbols) makes the send fail. We count with **cp949** (Microsoft's
superset of EUC-KR, what "EUC-KR" means in practice): Python's ``euc-kr`` codec encodes the
8,822 Hangul syllables outside KS X 1001's 2,350 (똠, 뷁, ...) as 8-byte make-up sequences,
while cp949 gives the 2 bytes the carriers count.

Nothing here raises on odd input except :func:`cp949_length`, whose argument must already be
encodable (run :func:`sanitize_for_sms` first).
"""

from __future__ import annotations

import unicodedata

from notify_svc.providers.base import Channel

#: Body limit of an SMS, in cp949 bytes.
SMS_MAX_BYTES = 90
#: Body limit of an LMS, in cp949 bytes.
LMS_MAX_BYTES = 2000
#: Title limit of an LMS, in cp949 bytes.
LMS_TITLE_MAX_BYTES = 40
#: What a cut text ends with (2 bytes in cp949), so a reader sees that something is missing.
TRUNCATION_MARK = "…"

# Characters cp949 lacks that have an obvious stand-in it has.
_SUBSTITUTES: dict[str, str] = {
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "-",  # figure dash
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2212": "-",  # minus sign
    "\u2022": "·",  # bullet
    "\u2027": "·",  # hyphenation point
    "\u2219": "·",  # bullet operator
    "\u22c5": "·",  # dot operator
    "\u00a9": "(C)",
    "\u00ae": "(R)",
    "\u20a9": "￦",  # won sign -> fullwidth won sign
    "\u2713": "V",  # check mark
    "\u2714": "V",  # heavy check mark
    "\u2715": "X",  # multiplication x
    "\u2716": "X",  # heavy multiplication x
    "\u201a": ",",
    "\u201e": '"',
    "\u2039": "<",
    "\u203a": ">",
}

# Invisible joiners and selectors that only make sense inside emoji sequences.
_INVISIBLE = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u20e3"}

# Code-point ranges whose characters are emoji or emoji parts (pictographs, dingbats,
# regional indicators, skin tones, tags, variation selectors).
_EMOJI_RANGES: tuple[tuple[int, int], ...] = (
    (0x1F000, 0x1FAFF),
    (0x2600, 0x27BF),
    (0x2B00, 0x2BFF),
    (0x2300, 0x23FF),
    (0xFE00, 0xFE0F),
    (0xE0000, 0xE007F),
    (0x1F1E6, 0x1F1FF),
)


def is_emoji(char: str) -> bool:
    """True for an emoji or a part of an emoji sequence (joiner, selector, keycap, tag)."""
    point = ord(char)
    if char in _INVISIBLE:
        return True
    return any(low <= point <= high for low, high in _EMOJI_RANGES)


def contains_emoji(text: str) -> bool:
    """True if any character of ``text`` is an emoji or part of one."""
    return any(is_emoji(ch) for ch in text)


def is_cp949(text: str) -> bool:
    """True if ``text`` can be sent as it is (every character exists in cp949)."""
    try:
        text.encode("cp949")
    except UnicodeEncodeError:
        return False
    return True


def cp949_length(text: str) -> int:
    """Length of ``text`` in cp949 bytes (Hangul syllables count 2, ASCII 1).

    Raises :class:`UnicodeEncodeError` if ``text`` has a character cp949 lacks; pass it
    through :func:`sanitize_for_sms` first.
    """
    return len(text.encode("cp949"))


def _char_length(char: str) -> int:
    return len(char.encode("cp949"))


def _sanitize_char(char: str) -> str:
    """The cp949 text that stands for one character ("" to drop it)."""
    if char in ("\n", " "):
        return char
    if char == "\t":
        return " "
    if char in _SUBSTITUTES:
        return _SUBSTITUTES[char]
    category = unicodedata.category(char)
    if category in ("Cc", "Cf", "Cs", "Co", "Cn"):
        return ""  # controls, format characters, surrogates, private use, unassigned
    if is_cp949(char):
        return char  # including the symbols carriers have always shown (★, ♥, ☎)
    if is_emoji(char):
        return ""
    if category.startswith("Z"):
        return " "  # unusual spaces (no-break, thin, ...)
    if category.startswith("M"):
        return ""  # a combining mark left alone
    # Letters with diacritics and compatibility forms: é -> e, ﬁ -> fi, ｶ -> カ.
    for form in ("NFKC", "NFKD"):
        decomposed = unicodedata.normalize(form, char)
        stripped = "".join(c for c in decomposed if not unicodedata.category(c).startswith("M"))
        if stripped and stripped != char and is_cp949(stripped):
            return stripped
    if category[0] in ("L", "N"):
        return "?"  # a letter or digit we cannot show: mark the gap
    return ""  # symbols and punctuation without a stand-in


def sanitize_for_sms(text: str) -> str:
    """``text`` made sendable as SMS/LMS: every character encodable in cp949.

    Line breaks become ``\\n``; emoji (with their joiners and selectors), control and format
    characters are dropped; common symbols cp949 lacks get a stand-in (— → -, • → ·, ₩ → ￦);
    accented letters lose their accents; any other letter or digit becomes ``?``. Never raises.
    """
    # NFC first: decomposed Hangul (conjoining jamo) has no cp949 form, the syllables do.
    normalized = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return "".join(_sanitize_char(ch) for ch in normalized)


def truncate_cp949(text: str, max_bytes: int, *, mark: str = TRUNCATION_MARK) -> str:
    """``text`` (already encodable) cut to at most ``max_bytes`` cp949 bytes.

    Cuts only between characters, never inside a double-byte one; a cut text ends with
    ``mark`` (within the limit) when the limit leaves room for it.
    """
    if max_bytes <= 0:
        return ""
    if cp949_length(text) <= max_bytes:
        return text
    mark_length = cp949_length(mark)
    budget = max_bytes - mark_length if mark_length < max_bytes else max_bytes
    kept: list[str] = []
    used = 0
    for char in text:
        size = _char_length(char)
        if used + size > budget:
            break
        kept.append(char)
        used += size
    cut = "".join(kept).rstrip()
    if mark_length < max_bytes and cp949_length(cut) + mark_length <= max_bytes:
        return cut + mark
    return cut


def _title_from(body: str) -> str:
    first_line = next((line.strip() for line in body.split("\n") if line.strip()), "")
    return first_line


def choose_fallback(text: str, title: str | None) -> tuple[Channel, str, str | None]:
    """The channel, body and title of the SMS/LMS that carries ``text``.

    The body is ``text`` made sendable (:func:`sanitize_for_sms`). If it fits an SMS (<= 90
    cp949 bytes) the answer is ``(Channel.SMS, body, None)``; otherwise it is an LMS with the
    body cut to <= 2,000 bytes and a title of <= 40 bytes: ``title`` if given, else the body's
    first line. Never raises.
    """
    body = sanitize_for_sms(text)
    if cp949_length(body) <= SMS_MAX_BYTES:
        return Channel.SMS, body, None
    lms_body = truncate_cp949(body, LMS_MAX_BYTES)
    raw_title = sanitize_for_sms(title or "").replace("\n", " ").strip()
    if not raw_title:
        raw_title = _title_from(body)
    lms_title = truncate_cp949(raw_title, LMS_TITLE_MAX_BYTES)
    return Channel.LMS, lms_body, lms_title
