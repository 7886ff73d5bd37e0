"""Each My Number row records which blind index key made its index, so a re-keying run knows
which rows it still has to rewrite (rows from before stay NULL: the run rewrites them too).

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # IF NOT EXISTS: 0001 creates the tables from the current models, which already have it.
    op.execute("ALTER TABLE person_my_number ADD COLUMN IF NOT EXISTS index_key_id varchar(64)")


def downgrade() -> None:
    op.drop_column("person_my_number", "index_key_id")
