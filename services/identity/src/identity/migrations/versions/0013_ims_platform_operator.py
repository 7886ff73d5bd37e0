"""The intermediate server's platform operator (issue 15): the scope ims:platform:admin
(system management of every municipality on the platform, the permission list sync, retiring
provision records past their 7 years) held by a role of its own. A municipality's
`ims_operator` keeps its own municipality's system management only: running the shared
platform is not a city's work, so the two are never the same role.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = "ims_platform_operator"
TITLE = "中間サーバー・プラットフォーム運用者"
DESCRIPTION = (
    "Runs the intermediate server platform shared by every municipality: system management of "
    "each, the permission list sync, retiring provision records past retention, the whole "
    "audit log."
)
SCOPES = ("ims:platform:admin", "ims:system:admin", "ims:audit:read")
_ROLES = sa.table(
    "roles",
    sa.column("name", sa.String),
    sa.column("title_ja", sa.String),
    sa.column("ward_level", sa.String),
    sa.column("description", sa.Text),
)
_ROLE_SCOPES = sa.table("role_scopes", sa.column("role", sa.String), sa.column("scope", sa.String))


def upgrade() -> None:
    op.bulk_insert(
        _ROLES,
        [{"name": ROLE, "title_ja": TITLE, "ward_level": "city", "description": DESCRIPTION}],
    )
    op.bulk_insert(_ROLE_SCOPES, [{"role": ROLE, "scope": scope} for scope in SCOPES])


def downgrade() -> None:
    op.execute(_ROLE_SCOPES.delete().where(_ROLE_SCOPES.c.role == ROLE))
    op.execute(_ROLES.delete().where(_ROLES.c.name == ROLE))
