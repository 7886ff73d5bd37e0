"""The snapshot function builds its document from a typed row (atena.persons.snapshot): the
same document, built faster.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

from alembic import op

from atena.persons.snapshot import SNAPSHOT_DDL

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The function as it was (the same documents).
_BUILT_PAIR_BY_PAIR = """
CREATE OR REPLACE FUNCTION atena_snapshot(p person) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT jsonb_build_object(
        'person_no', p.person_no,
        'residence_status', p.residence_status,
        'family_name', p.family_name,
        'given_name', p.given_name,
        'family_name_kana', p.family_name_kana,
        'given_name_kana', p.given_name_kana,
        'sex', p.sex,
        'birth_date', p.birth_date,
        'death_date', p.death_date,
        'address', jsonb_build_object(
            'postal_code', p.postal_code,
            'prefecture', p.prefecture,
            'municipality_code', p.municipality_code,
            'ward_code', p.ward_code,
            'town', p.town,
            'block', p.block,
            'building', p.building
        ),
        'household_no', p.household_no,
        'relationship_to_head', p.relationship_to_head,
        'phone', p.phone,
        'email', p.email,
        'delivery_addresses', p.delivery_addresses,
        'mother_person_no', p.mother_person_no,
        'version', p.version
    )
$$
"""


def upgrade() -> None:
    for statement in SNAPSHOT_DDL:
        op.execute(statement)


def downgrade() -> None:
    op.execute(_BUILT_PAIR_BY_PAIR)
    op.execute("DROP TYPE atena_snapshot_row")
    op.execute("DROP TYPE atena_snapshot_address")
