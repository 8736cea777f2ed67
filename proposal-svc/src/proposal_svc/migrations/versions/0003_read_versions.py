"""The proposal list's version for kept copies of public reads (proposal_svc/caching.py): one
counter row, bumped once in every transaction that inserts, updates or deletes proposals, so that
it changes exactly when the list can.

The trigger is a deferred constraint trigger: it runs at commit, after every other statement of
the transaction, so the counter's row lock is always the last lock a transaction takes and two
writers cannot deadlock on it; a transaction-local setting makes it bump once per transaction
however many rows it touched.

Revision ID: 0003_read_versions
Revises: 0003_follows
Create Date: 2026-12-02 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_read_versions"
down_revision: str | None = "0003_follows"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "proposal_list_version",
        sa.Column("one", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("one"),
        sa.CheckConstraint("one", name="one_row"),
    )
    op.execute("INSERT INTO proposal_list_version (one, version) VALUES (true, 0)")
    op.execute(
        """
        CREATE FUNCTION bump_proposal_list_version() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF current_setting('proposal_svc.list_version_bumped', true) IS DISTINCT FROM 'yes'
            THEN
                UPDATE proposal_list_version SET version = version + 1;
                PERFORM set_config('proposal_svc.list_version_bumped', 'yes', true);
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE CONSTRAINT TRIGGER proposals_bump_list_version
        AFTER INSERT OR UPDATE OR DELETE ON proposals
        DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION bump_proposal_list_version()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER proposals_bump_list_version ON proposals")
    op.execute("DROP FUNCTION bump_proposal_list_version()")
    op.drop_table("proposal_list_version")
