"""The month's invitations in the order their list is paged (ward, household, person): the
index on (period, kind, programme) grows by the keyset columns, so a page of `GET
/checkups/targets` is an index range scan however many children the month invites.

Revision ID: 0017
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "ix_checkup_notices_period_kind_programme"
NEW = "ix_checkup_notices_list_order"


def upgrade() -> None:
    op.create_index(
        NEW,
        "checkup_notices",
        [
            "period",
            "kind",
            "programme_code",
            sa.text("COALESCE(ward_code, '')"),
            "household_key",
            "person_no",
        ],
    )
    op.drop_index(OLD, table_name="checkup_notices")  # a prefix of the new one


def downgrade() -> None:
    op.create_index(OLD, "checkup_notices", ["period", "kind", "programme_code"])
    op.drop_index(NEW, table_name="checkup_notices")
