"""ledger-svc initial schema: the Merkle log (records, nodes), batches, signed tree heads, keys,
refused duplicates, audit results, outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 22:02:59.092265
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from services.migrations import create_outbox_and_inbox

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_results",
        sa.Column("target", sa.String(length=60), nullable=False),
        sa.Column("ledger_count", sa.Integer(), nullable=True),
        sa.Column("service_count", sa.Integer(), nullable=True),
        sa.Column("consistent", sa.Boolean(), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("target", name=op.f("pk_audit_results")),
    )
    op.create_table(
        "duplicate_reports",
        sa.Column("vote_id", sa.Uuid(), nullable=False),
        sa.Column("target", sa.String(length=60), nullable=False),
        sa.Column("voter_tag", sa.String(length=64), nullable=False),
        sa.Column("first_vote_id", sa.Uuid(), nullable=False),
        sa.Column("record", sa.LargeBinary(), nullable=False),
        sa.Column(
            "refused_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("vote_id", name=op.f("pk_duplicate_reports")),
    )
    op.create_index(
        op.f("ix_duplicate_reports_target"), "duplicate_reports", ["target"], unique=False
    )
    op.create_table(
        "ledger_batches",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("first_index", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("batch_root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("backend", sa.String(length=10), nullable=False),
        sa.Column("tx_id", sa.String(length=128), nullable=False),
        sa.Column("block", sa.BigInteger(), nullable=True),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_ledger_batches")),
    )
    op.create_table(
        "ledger_records",
        sa.Column("leaf_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("vote_id", sa.Uuid(), nullable=False),
        sa.Column("target", sa.String(length=60), nullable=False),
        sa.Column("voter_tag", sa.String(length=64), nullable=False),
        sa.Column("choice", sa.String(length=100), nullable=False),
        sa.Column("record", sa.LargeBinary(), nullable=False),
        sa.Column("batch_seq", sa.BigInteger(), nullable=False),
        sa.Column(
            "appended_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("leaf_index", name=op.f("pk_ledger_records")),
        sa.UniqueConstraint("vote_id", name=op.f("uq_ledger_records_vote_id")),
    )
    op.create_index(
        "uq_ledger_records_target_voter_tag", "ledger_records", ["target", "voter_tag"], unique=True
    )
    op.create_table(
        "ledger_signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("public_jwk", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("private_key_enc", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_ledger_signing_keys")),
    )
    op.create_table(
        "merkle_nodes",
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_merkle_nodes")),
    )
    op.create_table(
        "tree_heads",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_tree_heads")),
    )

    create_outbox_and_inbox()


def downgrade() -> None:
    op.drop_table("tree_heads")
    op.drop_index(
        "ix_outbox_unsent", table_name="outbox", postgresql_where=sa.text("sent_at IS NULL")
    )
    op.drop_table("outbox")
    op.drop_table("merkle_nodes")
    op.drop_table("ledger_signing_keys")
    op.drop_index("uq_ledger_records_target_voter_tag", table_name="ledger_records")
    op.drop_table("ledger_records")
    op.drop_table("ledger_batches")
    op.drop_table("inbox")
    op.drop_index(op.f("ix_duplicate_reports_target"), table_name="duplicate_reports")
    op.drop_table("duplicate_reports")
    op.drop_table("audit_results")
