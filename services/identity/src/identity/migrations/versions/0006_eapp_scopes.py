"""e_application's scopes (issue 14): the e-application reviewers (子育て支援課) review, print and
delete after retention; ward MCH staff review their own ward's applications; the city's MCH
staff read them and export a person's e-application data; the auditor reads its audit log. A
new role `system_link` (held by no staff user) grants what connected systems' clients may be
given: boshi_core pulls the accepted notifications, the national portal delivers packages.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SYSTEM_LINK = "system_link"
GRANTS = [
    ("eapp_reviewer", "eapp:retention:delete"),
    ("ward_mch_staff", "eapp:application:read"),
    ("ward_mch_staff", "eapp:application:review"),
    ("mch_staff", "eapp:application:read"),
    ("mch_staff", "eapp:disclosure:export"),
    ("auditor", "eapp:audit:read"),
    (SYSTEM_LINK, "eapp:export:pull"),
    (SYSTEM_LINK, "eapp:portal:deliver"),
]


def upgrade() -> None:
    roles = sa.table(
        "roles",
        sa.column("name", sa.String),
        sa.column("title_ja", sa.String),
        sa.column("description", sa.Text),
        sa.column("ward_level", sa.String),
    )
    op.bulk_insert(
        roles,
        [
            {
                "name": SYSTEM_LINK,
                "title_ja": "システム連携（職員に付与しない）",
                "ward_level": "city",
                "description": "Held by no staff user: the scopes connected systems' service "
                "clients may be given (hand-over exports, the national portal's deliveries).",
            }
        ],
    )
    role_scopes = sa.table(
        "role_scopes", sa.column("role", sa.String), sa.column("scope", sa.String)
    )
    op.bulk_insert(role_scopes, [{"role": role, "scope": scope} for role, scope in GRANTS])


def downgrade() -> None:
    op.execute(
        "DELETE FROM role_scopes WHERE scope LIKE 'eapp:%' AND scope NOT IN "
        "('eapp:application:read', 'eapp:application:review') OR role = 'system_link'"
    )
    op.execute("DELETE FROM roles WHERE name = 'system_link'")
