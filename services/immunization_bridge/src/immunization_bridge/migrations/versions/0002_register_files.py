"""Files out to the register: the changes waiting for a file, and each file's run record with
its bytes (re-delivery). The child register's table becomes `child_register` (boshi_core has a
`children` table, and the services' models share one declarative registry).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # 0001 creates the tables from the models, so a database it made after the rename already
    # has `child_register`; one made before has `children`.
    if sa.inspect(op.get_bind()).has_table("children"):
        op.rename_table("children", "child_register")
        op.execute("ALTER INDEX ix_children_ward_code RENAME TO ix_child_register_ward_code")
        op.execute("ALTER TABLE child_register RENAME CONSTRAINT pk_children TO pk_child_register")
    op.create_table(
        "register_file_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=100), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("changes", sa.Integer(), nullable=False),
        sa.Column("counts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("substituted_characters", sa.Integer(), nullable=False),
        sa.Column("built_by", sa.String(length=100), nullable=False),
        sa.Column(
            "built_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("last_delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_register_file_runs")),
        sa.UniqueConstraint("filename", name=op.f("uq_register_file_runs_filename")),
    )
    op.create_table(
        "register_changes",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("change", sa.String(length=20), nullable=False),
        sa.Column("person_no", sa.String(length=10), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("family_name", sa.String(length=100), nullable=False),
        sa.Column("given_name", sa.String(length=100), nullable=False),
        sa.Column("family_name_kana", sa.String(length=100), nullable=True),
        sa.Column("given_name_kana", sa.String(length=100), nullable=True),
        sa.Column("sex", sa.String(length=10), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("death_date", sa.Date(), nullable=True),
        sa.Column("ward_code", sa.String(length=6), nullable=True),
        sa.Column("other_municipality_code", sa.String(length=6), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["register_file_runs.id"],
            name=op.f("fk_register_changes_run_id_register_file_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_register_changes")),
        sa.UniqueConstraint("event_id", name=op.f("uq_register_changes_event_id")),
    )
    op.create_index(
        op.f("ix_register_changes_person_no"), "register_changes", ["person_no"], unique=False
    )
    op.create_index(
        op.f("ix_register_changes_run_id"), "register_changes", ["run_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("register_changes")
    op.drop_table("register_file_runs")
