"""The intermediate server's scopes (issue 15): the city's MCH staff inquire of other
municipalities, register replica data, confirm held (自動応答不可) provisions and read the
provision records about a person; registry clerks obtain 符号; a new role runs the platform
(system management, and its audit log, which holds every municipality's records). Service
clients (atena: ims:code:write; boshi_core: ims:inquire) hold them directly (identity.seed).

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = (
    "ims_operator",
    "中間サーバー運用担当",
    "city",
    "Runs the intermediate server platform: batch jobs and their status, statistics, health, "
    "retention deletion.",
)
GRANTS = [
    ("mch_staff", "ims:inquire"),
    ("mch_staff", "ims:replica:write"),
    ("mch_staff", "ims:approve"),
    ("mch_staff", "ims:records:read"),
    ("registry_clerk", "ims:code:write"),
    ("ims_operator", "ims:system:admin"),
    # The gateway's audit log holds every municipality's records: the platform's operators
    # read it, not a city's auditor (who reads a person's records through ims:records:read).
    ("ims_operator", "ims:audit:read"),
]


def upgrade() -> None:
    roles = sa.table(
        "roles",
        sa.column("name", sa.String),
        sa.column("title_ja", sa.String),
        sa.column("ward_level", sa.String),
        sa.column("description", sa.Text),
    )
    name, title, level, description = ROLE
    op.bulk_insert(
        roles, [{"name": name, "title_ja": title, "ward_level": level, "description": description}]
    )
    role_scopes = sa.table(
        "role_scopes", sa.column("role", sa.String), sa.column("scope", sa.String)
    )
    op.bulk_insert(role_scopes, [{"role": role, "scope": scope} for role, scope in GRANTS])


def downgrade() -> None:
    op.execute("DELETE FROM role_scopes WHERE scope LIKE 'ims:%'")
    op.execute("DELETE FROM roles WHERE name = 'ims_operator'")
