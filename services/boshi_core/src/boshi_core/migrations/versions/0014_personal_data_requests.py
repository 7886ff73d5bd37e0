"""Requests from the people in the records (issue 19): the request register, the corrections
made on its decisions, the suspensions of use, the inquiry log; and retention (III-7): the
retention rules (seeded, for the city to confirm against its 文書管理規程) and the disposals.

Revision ID: 0014
Revises: 0013
"""

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _now() -> "sa.Column[Any]":
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "personal_data_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_no", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("requester", postgresql.JSONB(), nullable=False),
        sa.Column("asked", sa.Text(), nullable=False),
        sa.Column("items", postgresql.JSONB(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("extended_to", sa.Date(), nullable=True),
        sa.Column("extension_reason", sa.Text(), nullable=True),
        sa.Column("extension_notified_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column(
            "withheld",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("disclose_staff", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("fulfilled_on", sa.Date(), nullable=True),
        sa.Column("export", postgresql.JSONB(), nullable=True),
        sa.Column("received_by", sa.String(100), nullable=False),
        sa.Column("decided_by", sa.String(100), nullable=True),
        _now(),
        sa.CheckConstraint(
            "kind IN ('disclosure', 'correction', 'suspension')",
            name=op.f("ck_personal_data_requests_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('received', 'decided', 'fulfilled')",
            name=op.f("ck_personal_data_requests_status"),
        ),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('full', 'partial', 'refusal')",
            name=op.f("ck_personal_data_requests_outcome"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personal_data_requests")),
    )
    op.create_index(
        op.f("ix_personal_data_requests_person_no"), "personal_data_requests", ["person_no"]
    )
    op.create_index(
        "ix_personal_data_requests_undecided_due",
        "personal_data_requests",
        [sa.text("COALESCE(extended_to, deadline)"), "id"],
        postgresql_where=sa.text("status = 'received'"),
    )

    op.create_table(
        "record_corrections",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("person_no", sa.String(10), nullable=False),
        sa.Column("record_type", sa.String(40), nullable=False),
        sa.Column("record_id", sa.String(40), nullable=False),
        sa.Column("field", sa.String(60), nullable=False),
        sa.Column("previous_value", postgresql.JSONB(), nullable=True),
        sa.Column("new_value", postgresql.JSONB(), nullable=True),
        sa.Column(
            "corrected_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("corrected_by", sa.String(100), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["personal_data_requests.id"],
            name=op.f("fk_record_corrections_request_id_personal_data_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_corrections")),
    )
    op.create_index(op.f("ix_record_corrections_request_id"), "record_corrections", ["request_id"])
    op.create_index(op.f("ix_record_corrections_person_no"), "record_corrections", ["person_no"])
    op.create_index(
        "ix_record_corrections_record", "record_corrections", ["record_type", "record_id"]
    )

    op.create_table(
        "use_suspensions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_no", sa.String(10), nullable=False),
        sa.Column("use", sa.String(20), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("suspended_on", sa.Date(), nullable=False),
        sa.Column("lifted_on", sa.Date(), nullable=True),
        sa.Column("lift_request_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "use IN ('reminders', 'invitations', 'provision')",
            name=op.f("ck_use_suspensions_use"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["personal_data_requests.id"],
            name=op.f("fk_use_suspensions_request_id_personal_data_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["lift_request_id"],
            ["personal_data_requests.id"],
            name=op.f("fk_use_suspensions_lift_request_id_personal_data_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_use_suspensions")),
    )
    op.create_index(
        "uq_use_suspensions_in_force",
        "use_suspensions",
        ["person_no", "use"],
        unique=True,
        postgresql_where=sa.text("lifted_on IS NULL"),
    )

    op.create_table(
        "inquiries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("person_no", sa.String(10), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_by", sa.String(100), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_by", sa.String(100), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "channel IN ('window', 'phone', 'letter', 'email', 'online_form', 'other')",
            name=op.f("ck_inquiries_channel"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inquiries")),
    )
    op.create_index(op.f("ix_inquiries_person_no"), "inquiries", ["person_no"])
    op.create_index("ix_inquiries_received", "inquiries", ["received_at", "id"])

    rules = op.create_table(
        "retention_rules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_type", sa.String(40), nullable=False),
        sa.Column("version", sa.SmallInteger(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("years", sa.SmallInteger(), nullable=False),
        sa.Column("counted_from", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("to_confirm", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "record_type IN ('pregnancy', 'infant_checkup_result', 'inquiry')",
            name=op.f("ck_retention_rules_record_type"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_rules")),
        sa.UniqueConstraint(
            "record_type", "version", name=op.f("uq_retention_rules_record_type_version")
        ),
    )
    to_confirm = "北九州市文書管理規程の保存期間 (要確認: the city confirms the value)"
    op.bulk_insert(
        rules,
        [
            {
                "id": uuid.UUID(int=0x14_0001),
                "record_type": "pregnancy",
                "version": 1,
                "effective_from": date(2000, 4, 1),
                "years": 5,
                "counted_from": "the pregnancy's outcome date (closed pregnancies)",
                "source": to_confirm,
                "to_confirm": True,
            },
            {
                "id": uuid.UUID(int=0x14_0002),
                "record_type": "infant_checkup_result",
                "version": 1,
                "effective_from": date(2000, 4, 1),
                "years": 5,
                "counted_from": "the day of the checkup",
                "source": to_confirm,
                "to_confirm": True,
            },
            {
                "id": uuid.UUID(int=0x14_0003),
                "record_type": "inquiry",
                "version": 1,
                "effective_from": date(2000, 4, 1),
                "years": 3,
                "counted_from": "the day of the answer",
                "source": to_confirm,
                "to_confirm": True,
            },
        ],
    )
    op.create_table(
        "disposals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_type", sa.String(40), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("person_no", sa.String(10), nullable=True),
        sa.Column("rule_version", sa.SmallInteger(), nullable=False),
        sa.Column(
            "disposed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("disposed_by", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disposals")),
        sa.UniqueConstraint("record_id", name=op.f("uq_disposals_record_id")),
    )
    op.create_index(op.f("ix_disposals_person_no"), "disposals", ["person_no"])


def downgrade() -> None:
    op.drop_table("disposals")
    op.drop_table("retention_rules")
    op.drop_table("inquiries")
    op.drop_table("use_suspensions")
    op.drop_table("record_corrections")
    op.drop_table("personal_data_requests")
