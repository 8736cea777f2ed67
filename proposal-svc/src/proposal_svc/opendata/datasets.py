"""The public datasets: their columns (name, type, meaning; docs/open-data.md lists the same, a
test keeps them equal), the query each is read with, and how a row becomes a CSV or JSON record.

No dataset carries personal data: no citizen id (authors, answerers, deciders, forum creators),
no name. A hidden proposal's title and body are replaced as on its public page.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from sqlalchemy import Select, Table, case, select
from sqlalchemy.sql.elements import ColumnElement

from proposal_svc.models import Answer, Forum, Obligation, Proposal

ColumnType = Literal["uuid", "text", "integer", "timestamp", "text[]"]
DatasetName = Literal["proposals", "forums", "answers", "obligations"]
Format = Literal["csv", "json"]
FORMATS: Final[tuple[Format, ...]] = ("csv", "json")

HIDDEN_TITLE: Final = "(숨김 처리된 제안)"
HIDDEN_BODY: Final = "운영 원칙에 따라 숨김 처리되었습니다."


@dataclass(frozen=True)
class Column:
    """One column of a dataset, as documented."""

    name: str
    type: ColumnType
    meaning: str


@dataclass(frozen=True)
class Dataset:
    """A public dataset: its columns in order, the table it is read from (its ``id`` is the
    keyset), the expressions of the columns, and a fix-up of each row (redaction)."""

    name: DatasetName
    description: str
    columns: tuple[Column, ...]
    table: Table
    expressions: Callable[[], list[ColumnElement[Any]]]
    redact: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    def query(self, after: uuid.UUID | None, limit: int) -> Select[Any]:
        """The next ``limit`` rows after ``after``, in id order."""
        stmt = select(*self.expressions()).order_by(self.table.c.id).limit(limit)
        if after is not None:
            stmt = stmt.where(self.table.c.id > after)
        return stmt

    def record(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The row as the dataset's record (columns in order, redacted)."""
        values = {c.name: row[c.name] for c in self.columns}
        return self.redact(values) if self.redact else values


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


def _redact_hidden(values: dict[str, Any]) -> dict[str, Any]:
    if values["status"] == "hidden":
        values["title"] = HIDDEN_TITLE
        values["body"] = HIDDEN_BODY
    return values


def _proposal_columns() -> list[ColumnElement[Any]]:
    t = _table(Proposal)
    return [
        t.c.id,
        t.c.title,
        t.c.body,
        t.c.category,
        t.c.district,
        t.c.status,
        t.c.agreement_count,
        t.c.created_at,
        t.c.opened_at,
        t.c.closes_at,
        t.c.closed_at,
    ]


def _forum_columns() -> list[ColumnElement[Any]]:
    t = _table(Forum)
    return [
        t.c.id,
        t.c.proposal_id,
        t.c.title,
        t.c.description,
        t.c.mode,
        t.c.options,
        t.c.status,
        t.c.opens_at,
        t.c.closes_at,
        t.c.closed_at,
        t.c.participant_count,
        t.c.created_at,
    ]


def _answer_columns() -> list[ColumnElement[Any]]:
    t = _table(Answer)
    return [t.c.id, t.c.proposal_id, t.c.kind, t.c.department, t.c.body, t.c.created_at]


def _obligation_columns() -> list[ColumnElement[Any]]:
    t = _table(Obligation)
    state = case(
        (t.c.fulfilled_at.is_not(None) & (t.c.fulfilled_at <= t.c.due_at), "fulfilled_on_time"),
        (t.c.fulfilled_at.is_not(None), "fulfilled_late"),
        (t.c.overdue_at.is_not(None), "overdue"),
        else_="open",
    )
    return [
        t.c.id,
        t.c.proposal_id,
        t.c.kind,
        t.c.created_at,
        t.c.due_at,
        t.c.fulfilled_at,
        t.c.overdue_at,
        state.label("state"),
    ]


DATASETS: Final[dict[DatasetName, Dataset]] = {
    "proposals": Dataset(
        name="proposals",
        description="Every proposal with its public status and agreement count.",
        table=_table(Proposal),
        expressions=_proposal_columns,
        redact=_redact_hidden,
        columns=(
            Column("id", "uuid", "The proposal's id (as in /v1/proposals/{id})."),
            Column("title", "text", f"Title (NFC); `{HIDDEN_TITLE}` when hidden."),
            Column("body", "text", "Body text (NFC); a fixed notice when hidden."),
            Column("category", "text", "Category (one of PROPOSAL_CATEGORIES)."),
            Column("district", "text", "District (자치구) the proposer named, or empty."),
            Column(
                "status",
                "text",
                "open, closed, adopted, budget_linked, withdrawn or hidden.",
            ),
            Column("agreement_count", "integer", "Agreements (공감) counted so far."),
            Column("created_at", "timestamp", "When it was submitted."),
            Column("opened_at", "timestamp", "When it started accepting agreements."),
            Column("closes_at", "timestamp", "When its agreement period ends (or ended)."),
            Column("closed_at", "timestamp", "When it stopped accepting agreements, or empty."),
        ),
    ),
    "forums": Dataset(
        name="forums",
        description="Every deliberation forum (공론장), a proposal's or the city's monthly one.",
        table=_table(Forum),
        expressions=_forum_columns,
        columns=(
            Column("id", "uuid", "The forum's id (as in /v1/forums/{id})."),
            Column("proposal_id", "uuid", "The proposal it deliberates, or empty."),
            Column("title", "text", "Title."),
            Column("description", "text", "Description."),
            Column("mode", "text", "online, offline or hybrid."),
            Column("options", "text[]", "The ballot's options (CSV: a JSON array)."),
            Column("status", "text", "scheduled, open or closed."),
            Column("opens_at", "timestamp", "When voting opens."),
            Column("closes_at", "timestamp", "When voting closes."),
            Column("closed_at", "timestamp", "When it closed, or empty."),
            Column("participant_count", "integer", "Citizens who voted in it."),
            Column("created_at", "timestamp", "When it was created."),
        ),
    ),
    "answers": Dataset(
        name="answers",
        description="Every answer of a department or the mayor's office to a proposal.",
        table=_table(Answer),
        expressions=_answer_columns,
        columns=(
            Column("id", "uuid", "The answer's id."),
            Column("proposal_id", "uuid", "The proposal answered."),
            Column("kind", "text", "department or mayor."),
            Column("department", "text", "The answering department's name, or empty."),
            Column("body", "text", "The answer's text."),
            Column("created_at", "timestamp", "When it was published."),
        ),
    ),
    "obligations": Dataset(
        name="obligations",
        description="What the city owes each proposal (an answer, a forum, a review), by when.",
        table=_table(Obligation),
        expressions=_obligation_columns,
        columns=(
            Column("id", "uuid", "The obligation's id."),
            Column("proposal_id", "uuid", "The proposal owed."),
            Column("kind", "text", "department_answer, forum, mayor_answer or budget_review."),
            Column("created_at", "timestamp", "When the tier (or budget link) created it."),
            Column("due_at", "timestamp", "When it is due."),
            Column("fulfilled_at", "timestamp", "When it was fulfilled, or empty."),
            Column("overdue_at", "timestamp", "When it was found overdue, or empty."),
            Column(
                "state",
                "text",
                "fulfilled_on_time, fulfilled_late, overdue or open (derived from the times).",
            ),
        ),
    ),
}


def iso(moment: datetime) -> str:
    """A time as ISO 8601 in UTC with ``Z`` (microseconds kept)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def json_value(value: Any) -> Any:
    """A value as JSON: ids and times as text, arrays as lists."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return value


def csv_value(value: Any) -> str:
    """A value as a CSV cell: empty for null, arrays as a JSON array."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return json.dumps([json_value(v) for v in value], ensure_ascii=False)
    return str(json_value(value))
