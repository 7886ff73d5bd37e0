"""Provision records are kept 7 years (番号法 art. 23 and its order), then retired from the
oldest with a checkpoint the verifier starts from (mch_common.audit_retention); the floor is
7 years, whatever IMS_RECORD_RETENTION_YEARS says.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

from alembic import op

from mch_common.migrations import add_audit_retention

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_audit_retention(op.get_bind(), min_years=7)


def downgrade() -> None:
    raise NotImplementedError("retired records cannot come back; the checkpoints stay")
