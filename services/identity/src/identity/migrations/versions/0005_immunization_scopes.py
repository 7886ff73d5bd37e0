"""The immunization bridge's scopes (issue 16): the city's MCH staff import the register's
files, read statuses and export a child's data; ward MCH staff read their ward's statuses and
overdue lists; the auditor reads the bridge's audit log.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GRANTS = [
    ("mch_staff", "immunization:record:import"),
    ("mch_staff", "immunization:status:read"),
    ("mch_staff", "immunization:disclosure:export"),
    ("ward_mch_staff", "immunization:status:read"),
    ("auditor", "immunization:audit:read"),
]


def upgrade() -> None:
    role_scopes = sa.table(
        "role_scopes", sa.column("role", sa.String), sa.column("scope", sa.String)
    )
    op.bulk_insert(role_scopes, [{"role": role, "scope": scope} for role, scope in GRANTS])


def downgrade() -> None:
    op.execute("DELETE FROM role_scopes WHERE scope LIKE 'immunization:%'")
