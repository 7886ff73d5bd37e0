"""Rules as data (issue 17): the birth follow-up rules (the 2,500 g low birth weight threshold,
the 28-day newborn and 4-month infant household visit windows, the 14 days to the premature
infant visit) and the detailed-examination voucher's 90-day validity become versioned rows with
an effective date, as the voucher rules, risk rules and checkup programmes already were; every
rule version records who added it and when (NULL: a migration).

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RULE_TABLES = ("voucher_rules", "risk_rule_sets", "checkup_programmes", "birth_rules")
# 母子保健法 in force from 1 January 1966: every child the city can hold is judged by a rule.
BIRTH_RULES_FROM = date(1966, 1, 1)

# Below the API too: a version in force or past (the city's date) is never changed or deleted,
# also not by the service's own database role; a version still to come may be withdrawn.
REFUSE_REWRITE = """
CREATE FUNCTION rule_version_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    today date := (now() AT TIME ZONE 'Asia/Tokyo')::date;
BEGIN
    IF OLD.effective_from <= today
       OR (TG_OP = 'UPDATE' AND NEW.effective_from <= today) THEN
        RAISE EXCEPTION 'a rule version in force or past is never rewritten (%)', TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "birth_rules",
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("low_birth_weight_below_g", sa.SmallInteger(), nullable=False),
        sa.Column("newborn_visit_days", sa.SmallInteger(), nullable=False),
        sa.Column("infant_household_visit_months", sa.SmallInteger(), nullable=False),
        sa.Column("premature_visit_due_days", sa.SmallInteger(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "low_birth_weight_below_g > 0 AND newborn_visit_days > 0 "
            "AND infant_household_visit_months > 0 AND premature_visit_due_days > 0",
            name=op.f("ck_birth_rules_positive"),
        ),
        sa.PrimaryKeyConstraint("effective_from", name=op.f("pk_birth_rules")),
    )
    for table in RULE_TABLES:
        op.add_column(table, sa.Column("recorded_by", sa.String(length=100), nullable=True))
        op.add_column(
            table,
            sa.Column(
                "recorded_at",
                sa.DateTime(timezone=True),
                server_default=sa.text("now()"),
                nullable=False,
            ),
        )
    op.add_column(
        "checkup_programmes",
        sa.Column(
            "detailed_exam_valid_days",
            sa.SmallInteger(),
            server_default=sa.text("90"),
            nullable=False,
        ),
    )
    # The value is the programme version's, not a default: the seed rows got 90 above.
    op.alter_column("checkup_programmes", "detailed_exam_valid_days", server_default=None)
    op.create_check_constraint(
        "detailed_exam_valid_days", "checkup_programmes", "detailed_exam_valid_days > 0"
    )
    # The threshold is now the birth rule in force on the birth date, checked by the service.
    op.drop_constraint(
        op.f("ck_low_birth_weight_notifications_low_weight"), "low_birth_weight_notifications"
    )
    op.create_check_constraint(
        "positive_weight", "low_birth_weight_notifications", "birth_weight_g > 0"
    )
    op.execute(REFUSE_REWRITE)
    for table in RULE_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_refuse_rewrite BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION rule_version_refuse_rewrite()"
        )
    birth_rules = sa.table(
        "birth_rules",
        sa.column("effective_from", sa.Date),
        sa.column("low_birth_weight_below_g", sa.SmallInteger),
        sa.column("newborn_visit_days", sa.SmallInteger),
        sa.column("infant_household_visit_months", sa.SmallInteger),
        sa.column("premature_visit_due_days", sa.SmallInteger),
        sa.column("source", sa.Text),
    )
    op.bulk_insert(
        birth_rules,
        [
            {
                "effective_from": BIRTH_RULES_FROM,
                "low_birth_weight_below_g": 2500,
                "newborn_visit_days": 28,
                "infant_household_visit_months": 4,
                "premature_visit_due_days": 14,
                "source": "母子保健法第6条・第18条 (低体重児: under 2,500 g; 新生児: under 28 "
                "days), 児童福祉法第6条の3第4項 (乳児家庭全戸訪問: before 4 months); the premature "
                "infant visit 14 days after the notification is this platform's default, to be "
                "confirmed by the city",
            }
        ],
    )


def downgrade() -> None:
    for table in RULE_TABLES:
        op.execute(f"DROP TRIGGER {table}_refuse_rewrite ON {table}")
    op.execute("DROP FUNCTION rule_version_refuse_rewrite()")
    op.drop_constraint(
        op.f("ck_low_birth_weight_notifications_positive_weight"),
        "low_birth_weight_notifications",
    )
    op.create_check_constraint(
        "low_weight", "low_birth_weight_notifications", "birth_weight_g < 2500"
    )
    op.drop_constraint(op.f("ck_checkup_programmes_detailed_exam_valid_days"), "checkup_programmes")
    op.drop_column("checkup_programmes", "detailed_exam_valid_days")
    for table in RULE_TABLES[:-1]:
        op.drop_column(table, "recorded_at")
        op.drop_column(table, "recorded_by")
    op.drop_table("birth_rules")
