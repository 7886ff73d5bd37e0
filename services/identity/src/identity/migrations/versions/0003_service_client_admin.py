"""Service clients administered through the API: tokens_valid_after (a rotated secret, a scope
taken away or a deactivation refuses earlier tokens) and the scope identity:client:admin,
granted to the network operator.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("service_clients", sa.Column("tokens_valid_after", sa.DateTime(timezone=True)))
    op.execute(
        "INSERT INTO role_scopes (role, scope) VALUES ('network_operator', 'identity:client:admin')"
        " ON CONFLICT DO NOTHING"
    )
    op.execute(
        "UPDATE roles SET description = 'Registers terminals and service clients and rotates"
        " token signing keys.' WHERE name = 'network_operator'"
    )


def downgrade() -> None:
    op.execute("DELETE FROM role_scopes WHERE scope = 'identity:client:admin'")
    op.drop_column("service_clients", "tokens_valid_after")
