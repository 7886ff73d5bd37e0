"""No planner statistics on the history's JSON documents: no query filters on them, and
ANALYZE compared thousands of sampled documents to build statistics nobody read (two thirds of
ANALYZE on person_version and person_change, after every bulk load and autovacuum pass).

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DOCUMENTS = {"person_version": ("snapshot",), "person_change": ("before", "after", "detail")}


def _set_statistics(target: int) -> None:
    for table, columns in DOCUMENTS.items():
        changes = ", ".join(f"ALTER COLUMN {column} SET STATISTICS {target}" for column in columns)
        op.execute(f"ALTER TABLE {table} {changes}")


def upgrade() -> None:
    _set_statistics(0)


def downgrade() -> None:
    _set_statistics(-1)  # the server's default_statistics_target again
