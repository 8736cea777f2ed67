"""What holds a comment for review when it is posted or edited: personal data (a Korean phone
number or resident registration number) or a listed word.

A held comment is stored, shown to moderators only, and never published unless a moderator
restores it; its body never appears in events or logs (docs/deliberation.md, "Privacy holds").
The patterns prefer holding an ordinary number for review to publishing someone's number: a
13-digit product code that happens to read as a date and a sex digit is held too.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final, Literal

from proposal_svc.deliberation.wordlist import WordList

HoldRule = Literal["reports", "word_list", "privacy"]

# NFKC already turns full-width digits and hyphens (U+FF10..., U+FF0D) into ASCII; these are
# the dashes it leaves alone.
_DASHES: Final = "\\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
_SEP: Final = rf"[\s.{_DASHES}]?"
#: Mobile (010, 011, 016-019), Seoul (02), the other regions (031-064), internet phones (070)
#: and safe numbers (050x), with or without the country code (+82 10 ..., +82 (0)2 ...), with
#: hyphens, dots, spaces or nothing between the groups, and (02) in brackets. Not the nationwide
#: business numbers (1588-xxxx...): those are public, and so are 112, 119 and 120.
PHONE: Final = re.compile(
    r"(?<![\d+])"
    r"(?:\+?82[\s.\-]*(?:\(0\)|0)?|\(?0)"
    r"(?:1[016789]|2|3[1-3]|4[1-4]|5[1-5]|6[1-4]|70|50[2-8])\)?"
    rf"{_SEP}\d{{3,4}}{_SEP}\d{{4}}(?!\d)"
)
#: YYMMDD, then the digit of century and sex (1-4; 5-8 for foreigners' registration numbers,
#: which have the same shape), then six digits; a hyphen, a space or nothing between. The last
#: digit is not checked: numbers issued since October 2020 have no check digit.
RESIDENT_NUMBER: Final = re.compile(
    r"(?<!\d)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
    rf"[\s{_DASHES}]?[1-8]\d{{6}}(?!\d)"
)


def personal_data(text: str) -> Literal["phone", "resident_number"] | None:
    """Which kind of personal data ``text`` contains, if any."""
    folded = unicodedata.normalize("NFKC", text)
    if RESIDENT_NUMBER.search(folded):
        return "resident_number"
    if PHONE.search(folded):
        return "phone"
    return None


def screen(text: str, words: WordList) -> HoldRule | None:
    """The rule that holds ``text`` at posting time (``privacy`` first), or None: publish."""
    if personal_data(text) is not None:
        return "privacy"
    if words.find(text) is not None:
        return "word_list"
    return None
