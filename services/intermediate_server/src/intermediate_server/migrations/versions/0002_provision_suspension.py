"""Suspension of provision (利用停止, issue 19): the decisions boshi_core passes on by event,
one row per person of a tenant, walled off by row-level security like every tenant table.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from intermediate_server.tenancy import rls_ddl

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "provision_suspension",
        sa.Column("id", sa.UUID(), primary_key=True),
        sa.Column("tenant", sa.CHAR(6), nullable=False),
        sa.Column("person_no", sa.String(10), nullable=False),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant", "person_no"),
    )
    for statement in rls_ddl("provision_suspension"):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("provision_suspension")
