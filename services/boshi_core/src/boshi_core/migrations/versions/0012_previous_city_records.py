"""Families moving in: the inquiries queued for the previous city (through the intermediate
server) and the checkup records it provided, marked with their source and date.

Revision ID: 0012
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "previous_city_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_no", sa.String(length=10), nullable=False),
        sa.Column("source_municipality", sa.String(length=6), nullable=False),
        sa.Column("moved_in_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("inquiry_id", sa.String(length=36), nullable=True),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "requested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_previous_city_requests")),
        sa.UniqueConstraint(
            "person_no",
            "source_municipality",
            "moved_in_on",
            name="uq_previous_city_requests_move",
        ),
    )
    op.create_index(
        op.f("ix_previous_city_requests_person_no"), "previous_city_requests", ["person_no"]
    )
    op.create_index(op.f("ix_previous_city_requests_status"), "previous_city_requests", ["status"])
    op.create_table(
        "previous_city_records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_no", sa.String(length=10), nullable=False),
        sa.Column("source_municipality", sa.String(length=6), nullable=False),
        sa.Column("item_no", sa.String(length=10), nullable=False),
        sa.Column("record_key", sa.String(length=64), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("programme_code", sa.String(length=10), nullable=True),
        sa.Column("taken", sa.Boolean(), nullable=False),
        sa.Column("taken_on", sa.Date(), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_previous_city_records")),
        sa.UniqueConstraint(
            "person_no",
            "source_municipality",
            "item_no",
            "record_key",
            name="uq_previous_city_records_record",
        ),
    )
    op.create_index(
        op.f("ix_previous_city_records_person_no"), "previous_city_records", ["person_no"]
    )


def downgrade() -> None:
    op.drop_table("previous_city_records")
    op.drop_table("previous_city_requests")
