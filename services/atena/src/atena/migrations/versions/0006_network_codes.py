"""Code management, atena's side: which persons have obtained their 符号 through the
intermediate server, for which registration of their My Number.

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


def upgrade() -> None:
    op.create_table(
        "network_code",
        sa.Column("person_no", sa.String(length=10), nullable=False),
        sa.Column("for_registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("obtained_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_no"], ["person.person_no"], name=op.f("fk_network_code_person_no_person")
        ),
        sa.PrimaryKeyConstraint("person_no", name=op.f("pk_network_code")),
    )


def downgrade() -> None:
    op.drop_table("network_code")
