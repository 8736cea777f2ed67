"""SMS/LMS byte counting (cp949), sanitizing and the SMS-or-LMS choice, with property tests."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notify_svc.encoding import (
    LMS_MAX_BYTES,
    LMS_TITLE_MAX_BYTES,
    SMS_MAX_BYTES,
    choose_fallback,
    contains_emoji,
    cp949_length,
    is_cp949,
    sanitize_for_sms,
    truncate_cp949,
)
from notify_svc.providers.base import Channel

EMOJI = ["😀", "🎉", "👍🏻", "👨\u200d👩\u200d👧", "🇰🇷", "❤️", "1️⃣", "🫶", "\U000e0067"]
KOREAN = [*list("가나다라마바사아자차카타파하똠뷁햏쀍갂"), "한글", "시민참여", "ㄱ", "ㅏ"]
TRICKY = [
    "\u2014",
    "\u2013",
    "•",
    "₩",
    "é",
    "ü",
    "\u00a0",
    "\u2003",
    "\t",
    "\r\n",
    "\r",
    "\x00",
    "\x7f",
]
TRICKY += ["©", "®", "✓", "ﬁ", "𠀀", "\ufeff", "\u200b", "★", "♥", "☎", "\u0301", "Å"]

# Pieces, not single characters: emoji sequences and CRLF are several code points.
text_with_everything = st.lists(
    st.one_of(
        st.characters(),
        st.sampled_from(EMOJI + KOREAN + TRICKY),
        st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),
    ),
    max_size=300,
).map("".join)
long_text = st.builds(lambda unit, times: unit * times, text_with_everything, st.integers(1, 40))


def test_cp949_counts_hangul_as_two_bytes_even_where_euc_kr_miscounts() -> None:
    assert cp949_length("abc") == 3
    assert cp949_length("가나다") == 6
    assert cp949_length("\n") == 1
    # 똠 and 뷁 are outside KS X 1001: Python's euc-kr codec spends 8 bytes on each.
    assert len("똠".encode("euc-kr")) == 8
    assert cp949_length("똠") == 2
    assert cp949_length("뷁") == 2
    assert cp949_length("똠방각하") == 8


def test_cp949_length_rejects_unencodable_text() -> None:
    with pytest.raises(UnicodeEncodeError):
        cp949_length("축하해요 🎉")


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("축하해요 🎉", "축하해요 "),
        ("가족 👨\u200d👩\u200d👧 사진", "가족  사진"),
        ("한국 🇰🇷", "한국 "),
        ("좋아요 👍🏻❤️", "좋아요 "),
        ("3월—4월 • 예산 ₩1,000", "3월-4월 · 예산 ￦1,000"),
        ("café ü", "cafe u"),
        ("줄1\r\n줄2\r줄3\t끝", "줄1\n줄2\n줄3 끝"),
        ("a\x00b\x7fc\ufeffd\u200be", "abcde"),
        ("no\u00a0break\u2003space", "no break space"),
        ("ﬁle ©2025", "file (C)2025"),
        ("희귀 한자 𠀀", "희귀 한자 ?"),
        ("★ 별 ♥ ☎️", "★ 별 ♥ ☎"),
        (unicodedata.normalize("NFD", "한글 시민참여"), "한글 시민참여"),
        ("", ""),
    ],
)
def test_sanitize_for_sms(raw: str, clean: str) -> None:
    assert sanitize_for_sms(raw) == clean


def test_contains_emoji() -> None:
    assert contains_emoji("안녕 🙂")
    assert contains_emoji("\u200d")
    assert not contains_emoji("[시민참여] ■ 제안: 그늘막 ※ 안내")


def test_truncate_never_cuts_a_double_byte_character() -> None:
    assert truncate_cp949("가나다", 6) == "가나다"
    assert truncate_cp949("가나다", 5) == "가…"
    assert truncate_cp949("가나다", 5, mark="") == "가나"
    assert truncate_cp949("가나다", 3, mark="") == "가"
    assert truncate_cp949("a가", 2, mark="") == "a"
    assert truncate_cp949("가나다", 0) == ""


def test_choose_fallback_sms_up_to_90_bytes() -> None:
    text = "가" * 45
    assert choose_fallback(text, "제목") == (Channel.SMS, text, None)
    assert choose_fallback("a" * 90, None) == (Channel.SMS, "a" * 90, None)


def test_choose_fallback_lms_above_90_bytes() -> None:
    channel, body, title = choose_fallback("가" * 45 + "a", "[시민참여] 제안 답변 등록")
    assert (channel, body, title) == (Channel.LMS, "가" * 45 + "a", "[시민참여] 제안 답변 등록")


def test_choose_fallback_cuts_long_body_and_title_and_derives_missing_title() -> None:
    channel, body, title = choose_fallback("첫 줄 제목\n" + "본" * 1500, "긴제목" * 10)
    assert channel is Channel.LMS
    assert cp949_length(body) <= LMS_MAX_BYTES
    assert body.endswith("…")
    assert title is not None
    assert cp949_length(title) <= LMS_TITLE_MAX_BYTES
    _, _, derived = choose_fallback("\n\n첫 줄 제목\n" + "본" * 100, None)
    assert derived == "첫 줄 제목"


def test_choose_fallback_drops_emoji_instead_of_failing() -> None:
    channel, body, title = choose_fallback("제안이 통과되었습니다 🎉👏", None)
    assert (channel, body, title) == (Channel.SMS, "제안이 통과되었습니다 ", None)


@settings(max_examples=300, deadline=None)
@given(text_with_everything)
def test_sanitize_always_gives_encodable_text_property(text: str) -> None:
    clean = sanitize_for_sms(text)
    assert is_cp949(clean)
    assert "\r" not in clean
    assert sanitize_for_sms(clean) == clean


@settings(max_examples=300, deadline=None)
@given(st.one_of(text_with_everything, long_text), st.none() | text_with_everything)
def test_choose_fallback_never_raises_and_always_fits_property(
    text: str, title: str | None
) -> None:
    channel, body, lms_title = choose_fallback(text, title)
    assert is_cp949(body)
    assert not any(ord(ch) >= 0x1F000 or ch in "\u200d\ufe0f" for ch in body)
    if channel is Channel.SMS:
        assert cp949_length(body) <= SMS_MAX_BYTES
        assert lms_title is None
    else:
        assert channel is Channel.LMS
        assert SMS_MAX_BYTES < cp949_length(sanitize_for_sms(text))
        assert cp949_length(body) <= LMS_MAX_BYTES
        assert lms_title is not None
        assert is_cp949(lms_title)
        assert cp949_length(lms_title) <= LMS_TITLE_MAX_BYTES
        assert "\n" not in lms_title


@settings(max_examples=200, deadline=None)
@given(st.one_of(text_with_everything, long_text), st.integers(0, 300))
def test_truncate_keeps_a_prefix_within_the_limit_property(text: str, limit: int) -> None:
    clean = sanitize_for_sms(text)
    cut = truncate_cp949(clean, limit)
    assert cp949_length(cut) <= limit
    kept = cut.removesuffix("…") if cut != clean else cut
    assert clean.startswith(kept)
