"""The snapshot function with its pairs in jsonb's key order (atena.persons.snapshot): the
same document, built faster.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

from alembic import op

from atena.persons.snapshot import SNAPSHOT_SQL_FUNCTION

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(SNAPSHOT_SQL_FUNCTION)


def downgrade() -> None:
    pass  # the function before built the same documents; nothing to undo
