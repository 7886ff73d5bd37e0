"""A bulk load's events are batch rows of mch_common.events.batch, which the relay expands
itself: the service's own expansion function (0002) goes.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS outbox_batch_events(bigint)")


def downgrade() -> None:
    # 0002's function read batch rows of its own shape; those written since are the library's.
    raise NotImplementedError("batch rows written since 0003 cannot be expanded by 0002's function")
