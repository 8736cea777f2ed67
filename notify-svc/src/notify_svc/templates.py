"""The KakaoTalk AlimTalk templates notify-svc sends, and how they are rendered.

Kakao approves every AlimTalk template before use, and a message is refused unless its text is
the registered template with only the ``#{variables}`` replaced: line breaks, spaces and
punctuation included. The texts below are therefore the registered texts, character for
character; change one only together with a new review at Kakao (and a new ``kakao_code``).

Each template is informational (no advertising, so it needs no "(광고)" prefix or night-time
consent), in polite Korean, and has a compact SMS text and an LMS title for the fallback
when AlimTalk fails. Variable names are the Korean names the templates are registered with:

==========================  ===========================================  =========
code                        variables                                    audience
==========================  ===========================================  =========
PROPOSAL_TIER_REACHED       제안제목, 동의수, 의무, 기한                 proposer
PROPOSAL_ANSWERED           제안제목, 답변주체                           proposer
PROPOSAL_STATUS_CHANGED     제안제목, 상태                               proposer
FORUM_OPENED                공론장제목, 마감일시                         proposer
FORUM_CLOSED                공론장제목, 참여자수                         participants
OBLIGATION_OVERDUE          제안제목, 의무, 기한                         staff
FOLLOWED_TIER_REACHED       제안제목, 동의수, 의무, 기한                 followers
FOLLOWED_ANSWERED           제안제목, 답변주체                           followers
FOLLOWED_STATUS_CHANGED     제안제목, 상태                               followers
FOLLOWED_FORUM_OPENED       공론장제목, 마감일시                         followers
FOLLOWED_FORUM_CLOSED       공론장제목, 참여자수                         followers
==========================  ===========================================  =========

The texts are in :mod:`notify_svc.template_texts`; which template each event sends to whom is
:mod:`notify_svc.kinds` (checked against the templates at start-up too).

``기한`` is a date in KST (``YYYY-MM-DD``, see :func:`format_kst_date`), ``마감일시`` a date
and time in KST (``YYYY-MM-DD HH:MM``, :func:`format_kst_datetime`), ``동의수`` and
``참여자수`` numbers with thousands separators (:func:`format_count`).

:func:`render` fills one template; :func:`validate_all` renders every template with its sample
data and checks it (run at start-up).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from notify_svc.encoding import (
    LMS_MAX_BYTES,
    LMS_TITLE_MAX_BYTES,
    SMS_MAX_BYTES,
    choose_fallback,
    contains_emoji,
    cp949_length,
    is_cp949,
    sanitize_for_sms,
)
from notify_svc.providers.base import Channel
from notify_svc.template_texts import PLACEHOLDER, TEMPLATES, Template

__all__ = ["TEMPLATES", "Rendered", "Template", "TemplateError", "TemplateValidationError"]

#: Korea Standard Time (no daylight saving time).
KST = timezone(timedelta(hours=9), "KST")
#: Kakao's limit on the rendered AlimTalk text, in characters.
ALIMTALK_MAX_CHARS = 1000
#: NHN Cloud's limit on a template code.
KAKAO_CODE_MAX_CHARS = 20

_PLACEHOLDER = PLACEHOLDER


class TemplateError(ValueError):
    """A template cannot be rendered as asked (unknown code, wrong variables, too long)."""


class TemplateValidationError(TemplateError):
    """:func:`validate_all` found problems; ``problems`` lists them."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("AlimTalk templates are invalid:\n- " + "\n- ".join(self.problems))


@dataclass(frozen=True)
class Rendered:
    """A template filled with values: what is sent."""

    code: str
    #: The AlimTalk text (the registered template with the values in place).
    text: str
    #: The compact fallback text.
    sms_text: str
    #: The LMS title.
    lms_title: str
    #: The template code registered at Kakao (what NHN/Solapi are told).
    kakao_code: str = ""
    #: The values, keyed by variable name (what AlimTalk providers receive).
    variables: Mapping[str, str] = field(default_factory=dict)

    def fallback(self) -> tuple[Channel, str, str | None]:
        """The SMS or LMS to send when AlimTalk fails: ``(channel, body, title)``.

        The compact text as an SMS when it fits in 90 cp949 bytes; otherwise the full text
        as an LMS (an LMS has room for it) with :attr:`lms_title`.
        """
        compact = sanitize_for_sms(self.sms_text)
        if cp949_length(compact) <= SMS_MAX_BYTES:
            return Channel.SMS, compact, None
        return choose_fallback(self.text, self.lms_title)


#: Our template code -> the code registered at Kakao/NHN.
KAKAO_TEMPLATE_CODES: dict[str, str] = {code: t.kakao_code for code, t in TEMPLATES.items()}


def format_kst_date(moment: datetime | date) -> str:
    """``YYYY-MM-DD`` of ``moment`` in KST (a timezone-aware datetime is converted first)."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise TemplateError("a due date must be timezone-aware")
        return moment.astimezone(KST).strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%d")


def format_kst_datetime(moment: datetime) -> str:
    """``YYYY-MM-DD HH:MM`` of a timezone-aware ``moment`` in KST."""
    if moment.tzinfo is None:
        raise TemplateError("a deadline must be timezone-aware")
    return moment.astimezone(KST).strftime("%Y-%m-%d %H:%M")


def format_count(count: int) -> str:
    """``1284`` -> ``1,284``."""
    return f"{count:,}"


def _substitute(text: str, values: Mapping[str, str]) -> str:
    # One pass, so a value that itself contains "#{...}" is never substituted again.
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def get_template(code: str) -> Template:
    """The template called ``code`` (raises :class:`TemplateError` if there is none)."""
    try:
        return TEMPLATES[code]
    except KeyError:
        known = ", ".join(sorted(TEMPLATES))
        raise TemplateError(f"unknown template {code!r} (known: {known})") from None


def _render(template: Template, variables: Mapping[str, str]) -> Rendered:
    expected = set(template.variables)
    given = set(variables)
    missing = [name for name in template.variables if name not in given]
    extra = sorted(given - expected)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected {', '.join(extra)}")
        raise TemplateError(
            f"template {template.code}: {'; '.join(parts)} "
            f"(expects {', '.join(template.variables)})"
        )
    for name in template.variables:
        value = variables[name]
        if not isinstance(value, str):
            raise TemplateError(f"template {template.code}: {name} must be a string")
        if not value.strip():
            raise TemplateError(f"template {template.code}: {name} is empty")
    values = {name: variables[name] for name in template.variables}
    text = _substitute(template.text, values)
    if len(text) > ALIMTALK_MAX_CHARS:
        raise TemplateError(
            f"template {template.code}: rendered text has {len(text)} characters, "
            f"AlimTalk allows {ALIMTALK_MAX_CHARS}"
        )
    return Rendered(
        code=template.code,
        text=text,
        sms_text=_substitute(template.sms_text, values),
        lms_title=template.lms_title,
        kakao_code=template.kakao_code,
        variables=values,
    )


def render(code: str, variables: Mapping[str, str]) -> Rendered:
    """Fill template ``code`` with ``variables``.

    Raises :class:`TemplateError` for an unknown code, a missing, unexpected or empty variable,
    or a text longer than AlimTalk's 1,000 characters. Values are inserted as they are.
    """
    return _render(get_template(code), variables)


def match_template(template_text: str, rendered_text: str) -> dict[str, str] | None:
    """The variable values if ``rendered_text`` is ``template_text`` with only its
    ``#{variables}`` replaced (literal text, line breaks and spaces identical), else None."""
    names = list(dict.fromkeys(_PLACEHOLDER.findall(template_text)))
    pattern: list[str] = []
    emitted: set[int] = set()
    position = 0
    for match in _PLACEHOLDER.finditer(template_text):
        pattern.append(re.escape(template_text[position : match.start()]))
        index = names.index(match.group(1))
        # A variable used twice must have the same value both times.
        pattern.append(f"(?P=v{index})" if index in emitted else f"(?P<v{index}>.+?)")
        emitted.add(index)
        position = match.end()
    pattern.append(re.escape(template_text[position:]))
    found = re.fullmatch("".join(pattern), rendered_text, flags=re.DOTALL)
    if found is None:
        return None
    return {name: found.group(f"v{index}") for index, name in enumerate(names)}


def _problems(template: Template) -> list[str]:
    problems: list[str] = []
    where = f"{template.code}:"
    if not template.kakao_code.isascii() or not (
        0 < len(template.kakao_code) <= KAKAO_CODE_MAX_CHARS
    ):
        problems.append(f"{where} kakao_code must be 1-{KAKAO_CODE_MAX_CHARS} ASCII characters")
    if template.audience not in ("citizen", "staff"):
        problems.append(f"{where} audience must be citizen or staff")
    for label, text in (
        ("text", template.text),
        ("sms_text", template.sms_text),
        ("lms_title", template.lms_title),
    ):
        if contains_emoji(text):
            problems.append(f"{where} {label} contains emoji")
        if not is_cp949(text):
            problems.append(f"{where} {label} has characters an SMS cannot carry")
        if "\r" in text or "\t" in text:
            problems.append(f"{where} {label} has a carriage return or tab")
        leftover = _PLACEHOLDER.sub("", text)
        if "#{" in leftover:
            problems.append(f"{where} {label} has a malformed placeholder")
    unknown = set(_PLACEHOLDER.findall(template.sms_text)) - set(template.variables)
    if unknown:
        problems.append(f"{where} sms_text uses unknown variables {sorted(unknown)}")
    if _PLACEHOLDER.search(template.lms_title):
        problems.append(f"{where} lms_title must not have variables")
    if is_cp949(template.lms_title) and cp949_length(template.lms_title) > LMS_TITLE_MAX_BYTES:
        problems.append(f"{where} lms_title is longer than {LMS_TITLE_MAX_BYTES} bytes")
    if set(template.sample) != set(template.variables):
        problems.append(f"{where} sample must give exactly {', '.join(template.variables)}")
    if problems:
        return problems  # rendering a template with structural problems says nothing more
    try:
        rendered = _render(template, template.sample)
    except TemplateError as exc:
        problems.append(f"{where} sample does not render: {exc}")
        return problems
    if _PLACEHOLDER.search(rendered.text) or _PLACEHOLDER.search(rendered.sms_text):
        problems.append(f"{where} rendered text still has placeholders")
    if len(rendered.text) > ALIMTALK_MAX_CHARS:
        problems.append(f"{where} rendered text is longer than {ALIMTALK_MAX_CHARS} characters")
    if contains_emoji(rendered.text):
        problems.append(f"{where} rendered text contains emoji")
    if match_template(template.text, rendered.text) != dict(template.sample):
        problems.append(f"{where} rendered text differs from the registered template")
    channel, body, title = rendered.fallback()
    if body != sanitize_for_sms(body) or not is_cp949(body):
        problems.append(f"{where} fallback body is not sendable as SMS/LMS")
    limit = SMS_MAX_BYTES if channel is Channel.SMS else LMS_MAX_BYTES
    if cp949_length(body) > limit:
        problems.append(f"{where} fallback body does not fit an {channel.value.upper()}")
    if channel is Channel.LMS:
        if body != sanitize_for_sms(rendered.text):
            problems.append(f"{where} fallback LMS had to be cut")
        if title is None or cp949_length(title) > LMS_TITLE_MAX_BYTES:
            problems.append(f"{where} fallback LMS title does not fit")
    return problems


def validate_templates(templates: Mapping[str, Template]) -> list[Rendered]:
    """Render every template with its sample and check it; the rendered samples.

    Checks: codes are consistent and Kakao codes unique; placeholders and variables agree and
    all are filled; the text is at most 1,000 characters and has no emoji; the rendered text
    is the registered template with only the variables replaced; the fallback fits an SMS
    (90 bytes) or an LMS (2,000 bytes, title 40 bytes) without being cut. Raises
    :class:`TemplateValidationError` listing every problem found.
    """
    problems: list[str] = []
    rendered: list[Rendered] = []
    kakao_codes: dict[str, str] = {}
    for code, template in templates.items():
        if code != template.code:
            problems.append(f"{code}: registered under a different code than {template.code}")
        if template.kakao_code in kakao_codes:
            problems.append(
                f"{code}: kakao_code {template.kakao_code} is also used by "
                f"{kakao_codes[template.kakao_code]}"
            )
        kakao_codes[template.kakao_code] = code
        found = _problems(template)
        problems.extend(found)
        if not found:
            rendered.append(_render(template, template.sample))
    if problems:
        raise TemplateValidationError(problems)
    return rendered


def validate_all() -> list[Rendered]:
    """:func:`validate_templates` over the registry (call it at start-up)."""
    return validate_templates(TEMPLATES)
