"""The registry's tables, the snapshot function, the number sequences, the platform tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

from atena.bulk.models import DeferredIndex
from atena.persons.models import Household, Person, PersonChange, PersonMyNumber, PersonVersion
from atena.persons.snapshot import SNAPSHOT_DDL
from mch_common.migrations import create_platform_tables
from mch_common.person_numbers import HOUSEHOLD_SERIAL_START, PERSON_SERIAL_START

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables as of this revision; later revisions alter them, never this file.
_TABLES = (Household, Person, PersonVersion, PersonChange, PersonMyNumber, DeferredIndex)


def upgrade() -> None:
    bind = op.get_bind()
    create_platform_tables(bind)
    for model in _TABLES:
        model.__table__.create(bind)  # type: ignore[attr-defined]
    op.execute(f"CREATE SEQUENCE person_serial START {PERSON_SERIAL_START} MAXVALUE 799999999")
    op.execute(
        f"CREATE SEQUENCE household_serial START {HOUSEHOLD_SERIAL_START} MAXVALUE 999999999"
    )
    for statement in SNAPSHOT_DDL:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS atena_snapshot(person)")
    op.execute("DROP TYPE IF EXISTS atena_snapshot_row")
    op.execute("DROP TYPE IF EXISTS atena_snapshot_address")
    op.execute("DROP SEQUENCE IF EXISTS household_serial")
    op.execute("DROP SEQUENCE IF EXISTS person_serial")
    for model in reversed(_TABLES):
        model.__table__.drop(op.get_bind())  # type: ignore[attr-defined]
