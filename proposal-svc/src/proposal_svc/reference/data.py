"""The fixed reference tables: category labels and Seoul's districts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class District:
    """A 자치구 of Seoul: its five-digit administrative code (행정표준코드, the 시군구 part of the
    법정동 code), its Korean and its English name."""

    code: str
    name_ko: str
    name_en: str


#: Seoul's 25 districts, in code order.
DISTRICTS: tuple[District, ...] = (
    District("11110", "종로구", "Jongno-gu"),
    District("11140", "중구", "Jung-gu"),
    District("11170", "용산구", "Yongsan-gu"),
    District("11200", "성동구", "Seongdong-gu"),
    District("11215", "광진구", "Gwangjin-gu"),
    District("11230", "동대문구", "Dongdaemun-gu"),
    District("11260", "중랑구", "Jungnang-gu"),
    District("11290", "성북구", "Seongbuk-gu"),
    District("11305", "강북구", "Gangbuk-gu"),
    District("11320", "도봉구", "Dobong-gu"),
    District("11350", "노원구", "Nowon-gu"),
    District("11380", "은평구", "Eunpyeong-gu"),
    District("11410", "서대문구", "Seodaemun-gu"),
    District("11440", "마포구", "Mapo-gu"),
    District("11470", "양천구", "Yangcheon-gu"),
    District("11500", "강서구", "Gangseo-gu"),
    District("11530", "구로구", "Guro-gu"),
    District("11545", "금천구", "Geumcheon-gu"),
    District("11560", "영등포구", "Yeongdeungpo-gu"),
    District("11590", "동작구", "Dongjak-gu"),
    District("11620", "관악구", "Gwanak-gu"),
    District("11650", "서초구", "Seocho-gu"),
    District("11680", "강남구", "Gangnam-gu"),
    District("11710", "송파구", "Songpa-gu"),
    District("11740", "강동구", "Gangdong-gu"),
)

_BY_CODE = {d.code: d for d in DISTRICTS}
_BY_NAME = {d.name_ko: d for d in DISTRICTS}


def district(value: str) -> District | None:
    """The district a code (``11440``) or a Korean name (``마포구``) names, or None."""
    return _BY_CODE.get(value) or _BY_NAME.get(value)


def district_code(name: str | None) -> str | None:
    """The code of a stored district name (None for none, or a name stored before validation)."""
    found = _BY_NAME.get(name) if name is not None else None
    return found.code if found is not None else None


#: Korean and English labels of the default categories (``PROPOSAL_CATEGORIES``); a configured
#: category without labels here is labelled with its code.
CATEGORY_LABELS: dict[str, tuple[str, str]] = {
    "transport": ("교통", "Transport"),
    "environment": ("환경", "Environment"),
    "welfare": ("복지", "Welfare"),
    "housing": ("주택", "Housing"),
    "safety": ("안전", "Safety"),
    "culture": ("문화", "Culture"),
    "economy": ("경제", "Economy"),
    "education": ("교육", "Education"),
    "health": ("보건", "Health"),
    "administration": ("행정", "Administration"),
    "other": ("기타", "Other"),
}
