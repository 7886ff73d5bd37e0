"""Rule data: prenatal voucher counts and prenatal risk rules, each with an effective date.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_RISK_RULES = {
    # 妊娠高血圧: systolic >= 140 or diastolic >= 90 mmHg
    "hypertension": {"systolic_at_least": 140, "diastolic_at_least": 90},
    # First checkup after week 20 (初回受診の遅れ)
    "late_first_checkup": {"after_week": 20},
    # Age at the expected delivery date
    "teenage_mother": {"age_below": 20},
    "older_mother": {"age_at_least": 35},
}


def upgrade() -> None:
    voucher_rules = sa.table(
        "voucher_rules",
        sa.column("effective_from", sa.Date),
        sa.column("base_count", sa.SmallInteger),
        sa.column("extra_for_multiple", sa.SmallInteger),
        sa.column("source", sa.Text),
    )
    op.bulk_insert(
        voucher_rules,
        [
            {
                "effective_from": date(2015, 4, 1),
                "base_count": 14,
                "extra_for_multiple": 5,
                "source": "告示226号 (2015); Kitakyushu issues 14 vouchers; +5 for a multiple "
                "pregnancy is this platform's default, to be confirmed by the city",
            }
        ],
    )
    risk_rule_sets = sa.table(
        "risk_rule_sets",
        sa.column("version", sa.Integer),
        sa.column("effective_from", sa.Date),
        sa.column("rules", postgresql.JSONB),
        sa.column("source", sa.Text),
    )
    op.bulk_insert(
        risk_rule_sets,
        [
            {
                "version": 1,
                "effective_from": date(2015, 4, 1),
                "rules": DEFAULT_RISK_RULES,
                "source": "issue I-1/I-2: hypertension >= 140/90, first visit after week 20, "
                "under 20 or 35 and over at the expected delivery date",
            }
        ],
    )


def downgrade() -> None:
    op.execute("DELETE FROM risk_rule_sets")
    op.execute("DELETE FROM voucher_rules")
