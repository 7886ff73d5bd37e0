"""The immunization bridge's files out and boshi_core's read of vaccination statuses (issue
16): the city's MCH staff build and take the register's batch files; boshi_core's service
client reads a child's statuses for the checkup profile and the disclosure export (a client
that does not exist yet gets the scope when it is created, as identity.seed does).

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REGISTER_FILE_EXPORT = "immunization:register_file:export"
STATUS_READ = "immunization:status:read"
BOSHI_CLIENT = "boshi_core"


def upgrade() -> None:
    role_scopes = sa.table(
        "role_scopes", sa.column("role", sa.String), sa.column("scope", sa.String)
    )
    op.bulk_insert(role_scopes, [{"role": "mch_staff", "scope": REGISTER_FILE_EXPORT}])
    op.execute(
        sa.text(
            "UPDATE service_clients SET scopes = array_append(scopes, :scope) "
            "WHERE client_id = :client AND NOT (:scope = ANY(scopes))"
        ).bindparams(scope=STATUS_READ, client=BOSHI_CLIENT)
    )


def downgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE service_clients SET scopes = array_remove(scopes, :scope) "
            "WHERE client_id = :client"
        ).bindparams(scope=STATUS_READ, client=BOSHI_CLIENT)
    )
    op.execute(
        sa.text("DELETE FROM role_scopes WHERE scope = :scope").bindparams(
            scope=REGISTER_FILE_EXPORT
        )
    )
