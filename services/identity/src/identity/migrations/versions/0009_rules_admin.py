"""boshi_core's rules as data (issue 17): the scope boshi:rules:admin, to add a version of the
voucher, risk, birth follow-up rules or a checkup programme from a later date, held by a role of
its own (city-wide): changing what every ward is judged by is not casework.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO roles (name, title_ja, ward_level, description) VALUES ('mch_rules_admin', "
        "'母子保健 制度基準管理者', 'city', 'Adds versions of the MCH rules (vouchers, risk rules, "
        "birth follow-up, checkup programmes) that take effect on a later date.')"
    )
    op.execute(
        "INSERT INTO role_scopes (role, scope) VALUES ('mch_rules_admin', 'boshi:rules:admin')"
    )


def downgrade() -> None:
    op.execute("DELETE FROM role_scopes WHERE role = 'mch_rules_admin'")
    op.execute("DELETE FROM roles WHERE name = 'mch_rules_admin'")
