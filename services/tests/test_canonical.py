"""The canonical vote record is stable and unambiguous (property tests)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.canonical import InvalidRecord, VoteRecord, target_key, voter_tag

KEY = b"k" * 32

choices = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=100
)
times = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@st.composite
def records(draw: st.DrawFn) -> VoteRecord:
    target = target_key(draw(st.sampled_from(["proposal", "forum"])), draw(st.uuids()))
    try:
        return VoteRecord.build(
            target=target,
            voter_tag=voter_tag(KEY, draw(st.uuids()), target),
            vote_id=draw(st.uuids()),
            cast_at=draw(times),
            choice=draw(choices),
        )
    except InvalidRecord:
        # Texts that NFC-normalise beyond 100 characters are refused by design.
        return VoteRecord.build(
            target=target,
            voter_tag="0" * 64,
            vote_id=uuid.uuid4(),
            cast_at=datetime.now(UTC),
            choice="agree",
        )


@given(records())
def test_round_trip(record: VoteRecord) -> None:
    data = record.encode()
    assert VoteRecord.decode(data) == record
    assert VoteRecord.decode(data).encode() == data


@given(records(), records())
def test_different_records_have_different_bytes(a: VoteRecord, b: VoteRecord) -> None:
    assert (a == b) == (a.encode() == b.encode())
    assert (a == b) == (a.hash() == b.hash())


@given(records())
def test_no_citizen_id_in_record(record: VoteRecord) -> None:
    citizen = uuid.uuid4()
    assert str(citizen) not in record.encode().decode()


@given(records(), st.binary(min_size=1, max_size=3), st.integers(min_value=0))
def test_altered_bytes_are_refused_or_differ(record: VoteRecord, noise: bytes, at: int) -> None:
    data = record.encode()
    position = at % (len(data) + 1)
    altered = data[:position] + noise + data[position:]
    try:
        decoded = VoteRecord.decode(altered)
    except InvalidRecord:
        return
    assert decoded != record


def test_fixed_vector() -> None:
    """The test vector published in docs/canonical-record.md, for other implementations."""
    target = "proposal:6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f"
    tag = voter_tag(b"\x01" * 32, uuid.UUID("0b5e8c1e-3b7c-4a55-9d0c-3f1a1f7f2a10"), target)
    assert tag == "328425d282733a9dfe874ddca11949b52f40e56295bc9787b138e4f352b7703f"
    record = VoteRecord.build(
        target=target,
        voter_tag=tag,
        vote_id=uuid.UUID("11111111-2222-4333-8444-555555555555"),
        cast_at=datetime(2026, 11, 24, 21, 0, 0, 123456, tzinfo=timezone(timedelta(hours=9))),
        choice="agree",
    )
    assert record.encode() == (
        b'{"cast_at":"2026-11-24T12:00:00.123456Z","choice":"agree",'
        b'"target":"proposal:6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f",'
        b'"vote_id":"11111111-2222-4333-8444-555555555555",'
        b'"voter_tag":"328425d282733a9dfe874ddca11949b52f40e56295bc9787b138e4f352b7703f"}'
    )
    assert record.hash() == "7f10aa42510bfd4a676159bd0683c51180e26e45a88c463a0053ca5c10cf7de8"


@pytest.mark.parametrize(
    "data",
    [
        b'{"cast_at":"2026-11-24T12:00:00.123456Z","choice":"agree"}',
        b'{"choice":"agree","cast_at":"2026-11-24T12:00:00.123456Z","target":"proposal:6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f","vote_id":"11111111-2222-4333-8444-555555555555","voter_tag":"'
        + b"0" * 64
        + b'"}',
        b'{"cast_at": "2026-11-24T12:00:00.123456Z","choice":"agree","target":"proposal:6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f","vote_id":"11111111-2222-4333-8444-555555555555","voter_tag":"'
        + b"0" * 64
        + b'"}',
        b'{"cast_at":"2026-11-24T12:00:00Z","choice":"agree","target":"proposal:6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f","vote_id":"11111111-2222-4333-8444-555555555555","voter_tag":"'
        + b"0" * 64
        + b'"}',
        b"\xff",
    ],
    ids=["missing-fields", "unsorted", "whitespace", "short-time", "not-utf8"],
)
def test_non_canonical_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidRecord):
        VoteRecord.decode(data)


@pytest.mark.parametrize("field", ["target", "voter_tag", "cast_at"])
def test_a_trailing_newline_does_not_pass_as_the_same_value(field: str) -> None:
    """A tag with a trailing newline would be another tag, dodging the duplicate check."""
    values = {
        "cast_at": "2026-11-24T12:00:00.123456Z",
        "target": "proposal:6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f",
        "voter_tag": "0" * 64,
    }
    values[field] += "\n"
    with pytest.raises(InvalidRecord):
        VoteRecord(values["target"], values["voter_tag"], uuid.uuid4(), values["cast_at"], "agree")
