"""notify-svc initial schema: notifications, preferences, delivery reports, recipient jobs, the
proposal authors read model, the dev provider's store, outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
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

TZ = sa.DateTime(timezone=True)
# Kept literally here (not imported from models) so that this migration never changes.
STATUSES = ("pending", "sending", "sent", "delivered", "failed", "deferred", "skipped", "dead")
CHANNELS = ("alimtalk", "sms", "lms")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("template_code", sa.String(64), nullable=False),
        sa.Column(
            "variables", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("title", sa.String(100), nullable=True),
        sa.Column("fallback_text", sa.Text(), nullable=True),
        sa.Column("fallback_title", sa.String(100), nullable=True),
        sa.Column("urgent", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("status", sa.String(16), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("skip_reason", sa.String(64), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("lease_until", TZ, nullable=True),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(32), nullable=True),
        sa.Column("provider_message_id", sa.String(200), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("fallback_of", sa.Uuid(), nullable=True),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("sent_at", TZ, nullable=True),
        sa.Column("delivered_at", TZ, nullable=True),
        sa.Column("failed_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint(
            "event_id", "citizen_id", "channel", name="uq_notifications_event_id_citizen_id_channel"
        ),
        sa.UniqueConstraint("idempotency_key", name="uq_notifications_idempotency_key"),
        sa.UniqueConstraint("fallback_of", name="uq_notifications_fallback_of"),
        sa.ForeignKeyConstraint(
            ["fallback_of"], ["notifications.id"], name="fk_notifications_fallback_of_notifications"
        ),
        sa.CheckConstraint(_in("status", STATUSES), name="ck_notifications_status"),
        sa.CheckConstraint(_in("channel", CHANNELS), name="ck_notifications_channel"),
    )
    op.create_index(
        "uq_notifications_primary",
        "notifications",
        ["event_id", "citizen_id"],
        unique=True,
        postgresql_where=sa.text("fallback_of IS NULL"),
    )
    op.create_index(
        "ix_notifications_due",
        "notifications",
        ["next_attempt_at"],
        postgresql_where=sa.text("status IN ('pending', 'deferred')"),
    )
    op.create_index(
        "ix_notifications_sending",
        "notifications",
        ["lease_until"],
        postgresql_where=sa.text("status = 'sending'"),
    )
    op.create_index(
        "ix_notifications_unconfirmed",
        "notifications",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'sent'"),
    )
    op.create_index("ix_notifications_citizen", "notifications", ["citizen_id", "created_at", "id"])
    op.create_index(
        "ix_notifications_provider_message",
        "notifications",
        ["provider", "provider_message_id"],
        postgresql_where=sa.text("provider_message_id IS NOT NULL"),
    )
    op.create_index(
        "ix_notifications_dead",
        "notifications",
        ["updated_at", "id"],
        postgresql_where=sa.text("status = 'dead'"),
    )
    op.create_table(
        "notification_preferences",
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("channels", postgresql.ARRAY(sa.String(16)), nullable=False),
        sa.Column("opt_out", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("night_consent", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("updated_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("citizen_id", name="pk_notification_preferences"),
    )
    op.create_table(
        "delivery_reports",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("provider_message_id", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("reported_at", TZ, nullable=True),
        sa.Column("received_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("notification_id", sa.Uuid(), nullable=True),
        sa.Column("applied", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_delivery_reports"),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name="fk_delivery_reports_notification_id_notifications",
        ),
    )
    op.create_index(
        "ix_delivery_reports_message", "delivery_reports", ["provider", "provider_message_id"]
    )
    op.create_index(
        "ix_delivery_reports_unapplied",
        "delivery_reports",
        ["provider", "provider_message_id"],
        postgresql_where=sa.text("NOT applied"),
    )
    op.create_table(
        "recipient_jobs",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("params", postgresql.JSONB(), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("done", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("recipients", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "kind", name="pk_recipient_jobs"),
    )
    op.create_index(
        "ix_recipient_jobs_due",
        "recipient_jobs",
        ["next_attempt_at"],
        postgresql_where=sa.text("NOT done"),
    )
    op.create_table(
        "proposal_authors",
        sa.Column("proposal_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("updated_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("proposal_id", name="pk_proposal_authors"),
    )
    op.create_table(
        "dev_messages",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("provider_message_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("to_masked", sa.String(32), nullable=False),
        sa.Column("template_code", sa.String(64), nullable=True),
        sa.Column("title", sa.String(100), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("accepted_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("delivered_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_dev_messages"),
        sa.UniqueConstraint("idempotency_key", name="uq_dev_messages_idempotency_key"),
        sa.UniqueConstraint("provider_message_id", name="uq_dev_messages_provider_message_id"),
    )
    create_outbox_and_inbox()


def downgrade() -> None:
    for table in (
        "inbox",
        "outbox",
        "dev_messages",
        "proposal_authors",
        "recipient_jobs",
        "delivery_reports",
        "notification_preferences",
        "notifications",
    ):
        op.drop_table(table)
