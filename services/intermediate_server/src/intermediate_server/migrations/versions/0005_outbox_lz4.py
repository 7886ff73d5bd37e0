"""The outbox's envelopes compressed by lz4 (mch_common.migrations.compress_outbox_with_lz4).

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

from alembic import op

from mch_common.migrations import compress_outbox_with_lz4

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    compress_outbox_with_lz4(op.get_bind())


def downgrade() -> None:
    compress_outbox_with_lz4(op.get_bind(), undo=True)
