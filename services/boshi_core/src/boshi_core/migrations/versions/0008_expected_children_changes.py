"""The history of a pregnancy's expected number of children: who changed it, when and why.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "expected_children_changes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("pregnancy_id", sa.Uuid(), nullable=False),
        sa.Column("previous", sa.SmallInteger(), nullable=False),
        sa.Column("expected_children", sa.SmallInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.String(length=100), nullable=False),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["pregnancy_id"],
            ["pregnancies.id"],
            name=op.f("fk_expected_children_changes_pregnancy_id_pregnancies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_expected_children_changes")),
    )
    op.create_index(
        op.f("ix_expected_children_changes_pregnancy_id"),
        "expected_children_changes",
        ["pregnancy_id"],
    )


def downgrade() -> None:
    op.drop_table("expected_children_changes")
