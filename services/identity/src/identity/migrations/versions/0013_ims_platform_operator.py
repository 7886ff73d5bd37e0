"""The intermediate server's platform operator (issue 15): the scope ims:platform:admin
(system management of every municipality on the platform, the permission list sync, retiring
provision records past their 7 years) held by a role of its own. A municipality's
`ims_operator` keeps its own municipality's system management only: running the shared
platform is not a city's work, so the two are never the same role.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = "ims_platform_operator"
SCOPES = ("ims:platform:admin", "ims:system:admin", "ims:audit:read")


def upgrade() -> None:
    op.execute(
        "INSERT INTO roles (name, title_ja, ward_level, description) VALUES "
        f"('{ROLE}', '中間サーバー・プラットフォーム運用者', 'city', 'Runs the intermediate "
        "server platform shared by every municipality: system management of each, the "
        "permission list sync, retiring provision records past retention, the whole audit "
        "log.')"
    )
    for scope in SCOPES:
        op.execute(f"INSERT INTO role_scopes (role, scope) VALUES ('{ROLE}', '{scope}')")


def downgrade() -> None:
    op.execute(f"DELETE FROM role_scopes WHERE role = '{ROLE}'")
    op.execute(f"DELETE FROM roles WHERE name = '{ROLE}'")
