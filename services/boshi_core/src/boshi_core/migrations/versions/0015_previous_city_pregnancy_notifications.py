"""A woman moving in: the previous city's pregnancy notification (item 80) is asked for
too, so a request names its item and a record of item 80 has no checkup taken.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "previous_city_requests",
        sa.Column("item_no", sa.String(length=10), server_default="95", nullable=False),
    )
    op.drop_constraint("uq_previous_city_requests_move", "previous_city_requests")
    op.create_unique_constraint(
        "uq_previous_city_requests_move_item",
        "previous_city_requests",
        ["person_no", "source_municipality", "moved_in_on", "item_no"],
    )
    op.alter_column("previous_city_records", "taken", nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM previous_city_records WHERE taken IS NULL")
    op.alter_column("previous_city_records", "taken", nullable=False)
    op.execute("DELETE FROM previous_city_requests WHERE item_no <> '95'")
    op.drop_constraint("uq_previous_city_requests_move_item", "previous_city_requests")
    op.create_unique_constraint(
        "uq_previous_city_requests_move",
        "previous_city_requests",
        ["person_no", "source_municipality", "moved_in_on"],
    )
    op.drop_column("previous_city_requests", "item_no")
