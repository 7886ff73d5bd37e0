"""A home visit whose legal window ended before the child became known is not applicable.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column(
        "home_visits", "status", type_=sa.String(length=20), existing_type=sa.String(length=10)
    )
    op.add_column(
        "home_visits", sa.Column("not_applicable_reason", sa.String(length=200), nullable=True)
    )
    op.drop_constraint(op.f("ck_home_visits_status"), "home_visits", type_="check")
    op.create_check_constraint(
        op.f("ck_home_visits_status"),
        "home_visits",
        "status IN ('open', 'completed', 'not_applicable')",
    )


def downgrade() -> None:
    op.execute("DELETE FROM home_visits WHERE status = 'not_applicable'")
    op.drop_constraint(op.f("ck_home_visits_status"), "home_visits", type_="check")
    op.create_check_constraint(
        op.f("ck_home_visits_status"), "home_visits", "status IN ('open', 'completed')"
    )
    op.drop_column("home_visits", "not_applicable_reason")
    op.alter_column(
        "home_visits", "status", type_=sa.String(length=10), existing_type=sa.String(length=20)
    )
