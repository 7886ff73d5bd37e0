"""Infant checkup programmes (seeded), notices, results, detailed-examination
vouchers, reminder runs, and the child and family center.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The one age rule in SQL (mch_common.dates.add_months_legal): the first day on which someone
# born on `birth` is `months` months old. PostgreSQL's date + interval clamps a missing day to
# the month's last day (31 Jan + 3 months = 30 Apr); the legal period ends that day, so the
# age is reached the next day. A single-expression IMMUTABLE SQL function, so it is inlined.
LEGAL_ADD_MONTHS = """
CREATE FUNCTION legal_add_months(birth date, months integer) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (birth + make_interval(months => months))::date
        + CASE WHEN extract(day FROM birth + make_interval(months => months))
                    < extract(day FROM birth)
               THEN 1 ELSE 0 END
$$
"""

KITAKYUSHU = (
    "Kitakyushu City infant checkups (乳幼児健康診査); windows per DOMAIN.md: published window "
    "ends; start ages are city configuration. 1y6m and 3y: 母子保健法 art. 12, 施行規則 art. 2"
)
PROGRAMMES = [
    ("4m", "4か月児健康診査 (4-month checkup)", 3, 7, 60),
    ("7m", "7か月児健康診査 (7-month checkup)", 6, 12, 60),
    ("1y6m", "1歳6か月児健康診査 (1 year 6 months checkup)", 18, 24, 60),
    ("3y", "3歳児健康診査 (3 years checkup)", 36, 48, 60),
]


def upgrade() -> None:
    op.create_table(
        "center_cases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("household_key", sa.String(length=40), nullable=False),
        sa.Column("ward_code", sa.String(length=6), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("opened_by", sa.String(length=100), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_center_cases_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_center_cases")),
    )
    op.create_index(
        op.f("ix_center_cases_household_key"), "center_cases", ["household_key"], unique=False
    )
    op.create_index(op.f("ix_center_cases_ward_code"), "center_cases", ["ward_code"], unique=False)
    op.create_table(
        "checkup_programmes",
        sa.Column("code", sa.String(length=10), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("start_months", sa.SmallInteger(), nullable=False),
        sa.Column("end_months", sa.SmallInteger(), nullable=False),
        sa.Column("reminder_days_before_end", sa.SmallInteger(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "reminder_days_before_end >= 0", name=op.f("ck_checkup_programmes_reminder_days")
        ),
        sa.CheckConstraint(
            "start_months >= 0 AND end_months > start_months",
            name=op.f("ck_checkup_programmes_window"),
        ),
        sa.PrimaryKeyConstraint("code", "effective_from", name=op.f("pk_checkup_programmes")),
    )
    op.create_table(
        "checkup_results",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_no", sa.String(length=10), nullable=False),
        sa.Column("programme_code", sa.String(length=10), nullable=False),
        sa.Column("examined_on", sa.Date(), nullable=False),
        sa.Column("institution", sa.String(length=200), nullable=False),
        sa.Column("ward_code", sa.String(length=6), nullable=True),
        sa.Column("height_cm", sa.Numeric(precision=4, scale=1), nullable=True),
        sa.Column("weight_kg", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("head_circumference_cm", sa.Numeric(precision=4, scale=1), nullable=True),
        sa.Column("chest_circumference_cm", sa.Numeric(precision=4, scale=1), nullable=True),
        sa.Column("development", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("findings", sa.Text(), nullable=True),
        sa.Column("judgement", sa.String(length=20), nullable=False),
        sa.Column("next_action", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "judgement IN ('no_problem', 'follow_up', 'detailed_exam')",
            name=op.f("ck_checkup_results_judgement"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkup_results")),
        sa.UniqueConstraint(
            "person_no", "programme_code", name=op.f("uq_checkup_results_person_no_programme_code")
        ),
    )
    op.create_table(
        "reminder_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("out_dir", sa.Text(), nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("children", sa.Integer(), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("letters_sent", sa.Integer(), nullable=False),
        sa.Column("summary", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'failed', 'completed')", name=op.f("ck_reminder_runs_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_runs")),
        sa.UniqueConstraint("period", name=op.f("uq_reminder_runs_period")),
    )
    op.create_table(
        "center_case_members",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("person_no", sa.String(length=10), nullable=False),
        sa.Column("relationship", sa.String(length=30), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["center_cases.id"],
            name=op.f("fk_center_case_members_case_id_center_cases"),
        ),
        sa.PrimaryKeyConstraint("case_id", "person_no", name=op.f("pk_center_case_members")),
    )
    op.create_index(
        op.f("ix_center_case_members_person_no"), "center_case_members", ["person_no"], unique=False
    )
    op.create_table(
        "center_consultations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("consulted_on", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "channel IN ('office', 'phone', 'home_visit', 'online')",
            name=op.f("ck_center_consultations_channel"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["center_cases.id"],
            name=op.f("fk_center_consultations_case_id_center_cases"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_center_consultations")),
    )
    op.create_index(
        op.f("ix_center_consultations_case_id"), "center_consultations", ["case_id"], unique=False
    )
    op.create_table(
        "center_support_plans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("review_on", sa.Date(), nullable=False),
        sa.Column("goals", sa.Text(), nullable=False),
        sa.Column("supports", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("last_reviewed_on", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('active', 'superseded', 'ended')",
            name=op.f("ck_center_support_plans_status"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["center_cases.id"],
            name=op.f("fk_center_support_plans_case_id_center_cases"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_center_support_plans")),
        sa.UniqueConstraint(
            "case_id", "version", name=op.f("uq_center_support_plans_case_id_version")
        ),
    )
    op.create_index(
        op.f("ix_center_support_plans_case_id"), "center_support_plans", ["case_id"], unique=False
    )
    op.create_index(
        op.f("ix_center_support_plans_review_on"),
        "center_support_plans",
        ["review_on"],
        unique=False,
    )
    op.create_table(
        "checkup_notices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_no", sa.String(length=10), nullable=False),
        sa.Column("programme_code", sa.String(length=10), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("window_start", sa.Date(), nullable=False),
        sa.Column("window_end", sa.Date(), nullable=False),
        sa.Column("ward_code", sa.String(length=6), nullable=True),
        sa.Column("household_key", sa.String(length=40), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("letter_no", sa.String(length=40), nullable=True),
        sa.Column("letter_file", sa.String(length=80), nullable=True),
        sa.Column("letter_page", sa.SmallInteger(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("follow_up_outcome", sa.String(length=30), nullable=True),
        sa.Column("follow_up_note", sa.Text(), nullable=True),
        sa.Column("follow_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("follow_up_by", sa.String(length=100), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "follow_up_outcome IS NULL OR follow_up_outcome IN "
            "('attended', 'refused', 'unreachable', 'home_visit_needed')",
            name=op.f("ck_checkup_notices_follow_up_outcome"),
        ),
        sa.CheckConstraint(
            "kind IN ('invitation', 'reminder')", name=op.f("ck_checkup_notices_kind")
        ),
        sa.CheckConstraint(
            "status IN ('recorded', 'pending', 'sent')", name=op.f("ck_checkup_notices_status")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["reminder_runs.id"], name=op.f("fk_checkup_notices_run_id_reminder_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkup_notices")),
        sa.UniqueConstraint(
            "person_no",
            "programme_code",
            "period",
            "kind",
            name=op.f("uq_checkup_notices_person_no_programme_code_period_kind"),
        ),
    )
    op.create_index(
        "ix_checkup_notices_period_kind_programme",
        "checkup_notices",
        ["period", "kind", "programme_code"],
        unique=False,
    )
    op.create_index(
        "ix_checkup_notices_run_household",
        "checkup_notices",
        ["run_id", "household_key"],
        unique=False,
        postgresql_where=sa.text("run_id IS NOT NULL"),
    )
    op.create_table(
        "detailed_exam_vouchers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("voucher_no", sa.String(length=20), nullable=False),
        sa.Column("result_id", sa.Uuid(), nullable=False),
        sa.Column("person_no", sa.String(length=10), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["result_id"],
            ["checkup_results.id"],
            name=op.f("fk_detailed_exam_vouchers_result_id_checkup_results"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_detailed_exam_vouchers")),
        sa.UniqueConstraint("result_id", name=op.f("uq_detailed_exam_vouchers_result_id")),
        sa.UniqueConstraint("voucher_no", name=op.f("uq_detailed_exam_vouchers_voucher_no")),
    )
    op.create_index(
        op.f("ix_detailed_exam_vouchers_person_no"),
        "detailed_exam_vouchers",
        ["person_no"],
        unique=False,
    )
    op.create_table(
        "center_plan_reviews",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("reviewed_on", sa.Date(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("next_review_on", sa.Date(), nullable=True),
        sa.Column("reviewed_by", sa.String(length=100), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('continue', 'end')", name=op.f("ck_center_plan_reviews_outcome")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["center_support_plans.id"],
            name=op.f("fk_center_plan_reviews_plan_id_center_support_plans"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_center_plan_reviews")),
    )
    op.create_index(
        op.f("ix_center_plan_reviews_plan_id"), "center_plan_reviews", ["plan_id"], unique=False
    )

    op.execute(LEGAL_ADD_MONTHS)
    # The extraction reads the people read model by birth-date cohort: the Person model's
    # index (birth_date index=True gives this very name), which 0001 did not create.
    op.execute("CREATE INDEX IF NOT EXISTS ix_people_birth_date ON people (birth_date)")
    op.execute("CREATE SEQUENCE detailed_exam_voucher_seq")
    programmes = sa.table(
        "checkup_programmes",
        sa.column("code", sa.String),
        sa.column("effective_from", sa.Date),
        sa.column("effective_to", sa.Date),
        sa.column("name", sa.String),
        sa.column("start_months", sa.SmallInteger),
        sa.column("end_months", sa.SmallInteger),
        sa.column("reminder_days_before_end", sa.SmallInteger),
        sa.column("source", sa.Text),
    )
    op.bulk_insert(
        programmes,
        [
            {
                "code": code,
                "effective_from": date(2000, 4, 1),
                "effective_to": None,
                "name": name,
                "start_months": start,
                "end_months": end,
                "reminder_days_before_end": reminder_days,
                "source": KITAKYUSHU,
            }
            for code, name, start, end, reminder_days in PROGRAMMES
        ],
    )


def downgrade() -> None:
    for table in (
        "center_plan_reviews",
        "center_support_plans",
        "center_consultations",
        "center_case_members",
        "center_cases",
        "detailed_exam_vouchers",
        "checkup_results",
        "checkup_notices",
        "reminder_runs",
        "checkup_programmes",
    ):
        op.drop_table(table)
    op.execute("DROP INDEX IF EXISTS ix_people_birth_date")
    op.execute("DROP SEQUENCE detailed_exam_voucher_seq")
    op.execute("DROP FUNCTION legal_add_months(date, integer)")
