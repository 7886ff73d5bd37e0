"""Dates of the bulk files, My Numbers in them, configuration, the snapshot's SQL text."""

import re
from datetime import date
from typing import Any

import pytest

from atena.bulk.parse import _date
from atena.config import Settings
from atena.persons.snapshot import SNAPSHOT_DDL, SNAPSHOT_FIELDS
from mch_common.mynumber import contains_my_number, generate_my_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-02-29", date(2024, 2, 29)),
        ("20240229", date(2024, 2, 29)),
        ("2024-0229", date(2024, 2, 29)),
        ("２０２４-０２-２９", date(2024, 2, 29)),
        ("2023-02-29", "no such date"),
        ("20230229", "no such date"),
        ("0000-01-01", "no such date"),
        ("2024-W09-4", "not a date"),  # ISO week dates: date.fromisoformat reads them, we do not
        ("2024W094", "not a date"),
        ("2024-2-29", "not a date"),
    ],
)
def test_extract_dates(text: str, expected: date | str) -> None:
    if isinstance(expected, date):
        assert _date(text) == expected
    else:
        with pytest.raises(ValueError, match=expected):
            _date(text)


def test_stray_my_numbers_are_detected() -> None:
    number = generate_my_number()
    assert contains_my_number(number)
    assert contains_my_number(f"tel {number[:4]}{number[4:]}9")  # glued to another digit
    assert not contains_my_number("093-123-4567")
    assert not contains_my_number("1234567897")


def test_dev_keys_are_refused_outside_dev() -> None:
    assert Settings(environment="test").vault.current_key_id.startswith("dev-only")
    with pytest.raises(ValueError, match="dev-only"):
        Settings(environment="production", client_secret="real")
    real = Settings(
        environment="production",
        client_secret="real",
        my_number_keys="k2:" + "A" * 43 + "=",
        my_number_current_key_id="k2",
        my_number_index_key="idx:" + "B" * 43 + "=",
    )
    assert real.vault.current_key_id == "k2"


def test_a_record_crosses_from_the_parsing_process_unchanged() -> None:
    """The wire tuple (marshal, dates as ordinals) lists Record's fields by hand: a field added
    to one and not the other fails here."""
    import marshal
    from dataclasses import fields

    from atena.bulk.handover import _FORMAT, _record, _wire
    from atena.bulk.parse import Record

    values: dict[str, Any] = {f.name: f"v{i}" for i, f in enumerate(fields(Record))}
    values |= {
        "line": 7,
        "birth_date": date(1990, 1, 2),
        "death_date": date(2025, 3, 4),
        "effective_date": date(2025, 3, 4),
        "is_new": False,
    }
    record = Record(**values)
    assert _record(marshal.loads(marshal.dumps(_wire(record), _FORMAT))) == record  # noqa: S302 - our own parsing process's message, never outside input
    alive = Record(**values | {"death_date": None, "person_no": None})
    assert _record(marshal.loads(marshal.dumps(_wire(alive), _FORMAT))) == alive  # noqa: S302 - our own parsing process's message, never outside input


def test_the_first_chunks_are_smaller_and_grow_to_the_chunk_size() -> None:
    """Both connections get work a moment after the start, then chunks of the size asked."""
    from atena.bulk.handover import _chunks

    assert [len(c) for c in _chunks(range(12_500), 3_000)] == [
        1_000,
        2_000,
        3_000,
        3_000,
        3_000,
        500,
    ]
    assert [len(c) for c in _chunks(range(7), 2)] == [2, 2, 2, 1]
    assert [x for c in _chunks(range(12_500), 3_000) for x in c] == list(range(12_500))
    assert list(_chunks([], 5)) == []


def test_the_snapshot_types_name_its_keys_in_jsonb_order_as_the_function_fills_them() -> None:
    """The row types' fields are in jsonb's key order (the module's comment), every field of
    the contract once, and the function fills them from the person's columns of those names."""
    types, function = SNAPSHOT_DDL
    fields = {
        name: re.findall(r"(\w+) \w+[,\n]", body)
        for name, body in re.findall(r"CREATE TYPE (\w+) AS \((.*?)\);", types, re.DOTALL)
    }
    outer, inner = fields["atena_snapshot_row"], fields["atena_snapshot_address"]

    def jsonb_order(keys: list[str]) -> list[str]:
        return sorted(keys, key=lambda k: (len(k.encode()), k.encode()))

    assert outer == jsonb_order(outer)
    assert inner == jsonb_order(inner)
    assert sorted(outer) == sorted(SNAPSHOT_FIELDS)
    assert len(inner) == 7
    filled = re.findall(r"p\.(\w+)", function)
    at = outer.index("address")
    assert filled == [*outer[:at], *inner, *outer[at + 1 :]]
