"""The access log is keyed by person: every record names everyone the access showed or tried
(`audit_log.persons`, GIN-indexed), and the append-only trigger and the hash cover it.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

from alembic import op

from mch_common.migrations import add_audit_log_persons

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_audit_log_persons(op.get_bind())


def downgrade() -> None:
    # Sealed records that name persons hash them: dropping the column would break the chain.
    raise NotImplementedError("the hash chain covers audit_log.persons; it cannot be dropped")
