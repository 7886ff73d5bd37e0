"""Safe retries: the idempotency_keys table (mch_common.idempotency), where a POST's
Idempotency-Key and its answer are kept, in the same transaction as the change, for 24 hours.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

from alembic import op

from mch_common.migrations import add_idempotency_keys

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_idempotency_keys(op.get_bind())


def downgrade() -> None:
    op.drop_table("idempotency_keys")
