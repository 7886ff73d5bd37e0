"""Numbers, keys and codes in the "C" collation (atena.persons.models.CODE): ASCII compared
byte by byte, not through the C library's strcoll. Their indexes are rebuilt, the tables are
not rewritten (the same bytes), and their order does not change for ASCII.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table: (column, length); a referenced table before the tables that refer to it.
COLUMNS = {
    "household": (("household_no", 10), ("external_key", 64)),
    "person": (
        ("person_no", 10),
        ("external_key", 64),
        ("household_no", 10),
        ("postal_code", 7),
        ("municipality_code", 6),
        ("ward_code", 6),
        ("mother_person_no", 10),
    ),
    "person_version": (("person_no", 10),),
    "person_change": (("person_no", 10),),
    "person_my_number": (("person_no", 10),),
    "network_code": (("person_no", 10),),
}


def _collate(collation: str) -> None:
    for table, columns in COLUMNS.items():
        changes = ", ".join(
            f'ALTER COLUMN {column} TYPE varchar({length}) COLLATE "{collation}"'
            for column, length in columns
        )
        op.execute(f"ALTER TABLE {table} {changes}")


def upgrade() -> None:
    _collate("C")


def downgrade() -> None:
    _collate("default")
