"""The person snapshot of the event contract (docs/service-conventions.md), built in one place.

It is an SQL function so that the API, the bulk loader (set-based, inside INSERT ... SELECT)
and the version history all produce exactly the same document. It never includes the My Number.
"""

from dataclasses import dataclass
from typing import Any

SNAPSHOT_FIELDS = (
    "person_no",
    "residence_status",
    "family_name",
    "given_name",
    "family_name_kana",
    "given_name_kana",
    "sex",
    "birth_date",
    "death_date",
    "address",
    "household_no",
    "relationship_to_head",
    "phone",
    "email",
    "delivery_addresses",
    "mother_person_no",
    "version",
)


@dataclass(frozen=True)
class PersonState:
    """A person as the services answer: the snapshot, and on reads whether a My Number is
    registered and the number as the caller may see it (masked unless atena:mynumber:read)."""

    snapshot: dict[str, Any]
    has_my_number: bool | None = None
    my_number: str | None = None


# The pairs in the order a jsonb object keeps its keys (shorter first, then by their bytes):
# jsonb_build_object sorts what it is given, and PostgreSQL's sort looks first whether its
# input is sorted already, which is then all it does. The document is the same in any order;
# this order built it in 6.2 µs against 7.5 (100,000 people), on every write and bulk load.
SNAPSHOT_SQL_FUNCTION = """
CREATE OR REPLACE FUNCTION atena_snapshot(p person) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT jsonb_build_object(
        'sex', p.sex,
        'email', p.email,
        'phone', p.phone,
        'address', jsonb_build_object(
            'town', p.town,
            'block', p.block,
            'building', p.building,
            'ward_code', p.ward_code,
            'prefecture', p.prefecture,
            'postal_code', p.postal_code,
            'municipality_code', p.municipality_code
        ),
        'version', p.version,
        'person_no', p.person_no,
        'birth_date', p.birth_date,
        'death_date', p.death_date,
        'given_name', p.given_name,
        'family_name', p.family_name,
        'household_no', p.household_no,
        'given_name_kana', p.given_name_kana,
        'family_name_kana', p.family_name_kana,
        'mother_person_no', p.mother_person_no,
        'residence_status', p.residence_status,
        'delivery_addresses', p.delivery_addresses,
        'relationship_to_head', p.relationship_to_head
    )
$$
"""


def changed_fields(
    before: dict[str, object], after: dict[str, object]
) -> tuple[dict[str, object], dict[str, object]]:
    """The event's `before` and `after`: only the snapshot fields that changed."""
    keys = [k for k in SNAPSHOT_FIELDS if k != "version" and before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}
