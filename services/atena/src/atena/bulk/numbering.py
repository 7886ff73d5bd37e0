"""A chunk's numbers and secrets: every record gets its person number and household number
(taken for good, outside the chunk's transaction), and its My Number encrypted and blind
indexed; then the chunk splits into new people (COPY'd straight into their tables) and people
already registered (staged for the set-based merge)."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

import asyncpg

from atena.bulk.parse import Record
from atena.bulk.statements import HOUSEHOLDS, HOUSEHOLDS_KNOWN
from mch_common.lines import LineError
from mch_common.mynumber import MyNumberVault
from mch_common.person_numbers import HOUSEHOLD_SERIAL_START, person_no_from_serial


async def _numbers(conn: asyncpg.Connection, sequence: str, count: int) -> list[str]:
    if count == 0:
        return []
    # One array value, not a row per number: far less for the event loop to unpack.
    serials = await conn.fetchval(
        "SELECT array_agg(nextval($1::regclass)) FROM generate_series(1, $2)", sequence, count
    )
    return [person_no_from_serial(serial) for serial in serials]


async def resolve(
    conn: asyncpg.Connection,
    chunk: list[Record],
    *,
    initial: bool,
    reject: Callable[[LineError], None],
) -> list[Record]:
    """Give every record its person number and household number; reject conflicts. Runs
    outside the chunk's transaction: numbers and households are taken for good."""
    # In an initial load every key is new (repeats within the file are already rejected),
    # and the index that would answer this is being rebuilt.
    by_key = (
        {}
        if initial
        else dict(
            await conn.fetch(
                "SELECT external_key, person_no FROM person WHERE external_key = ANY($1::text[])",
                [r.external_key for r in chunk],
            )
        )
    )
    given = [r.person_no for r in chunk if r.person_no is not None]
    by_no: dict[str, str | None] = (
        dict(
            await conn.fetch(
                "SELECT person_no, external_key FROM person WHERE person_no = ANY($1::text[])",
                given,
            )
        )
        if given
        else {}
    )
    kept: list[Record] = []
    for r in chunk:
        existing = by_key.get(r.external_key)
        if r.person_no is None:
            r.person_no = existing
            r.is_new = existing is None
        elif existing is not None and existing != r.person_no:
            reject(LineError(r.line, "external_key", "belongs to another person number"))
            continue
        elif r.person_no in by_no and by_no[r.person_no] not in (None, r.external_key):
            reject(LineError(r.line, "person_no", "registered with another external key"))
            continue
        else:
            r.is_new = r.person_no not in by_no
        kept.append(r)
    in_range = [int(no[:9]) for no in given if int(no[:9]) < HOUSEHOLD_SERIAL_START]
    if in_range:
        # Numbers carried over from the extract must never be issued again.
        await conn.execute(
            "SELECT setval('person_serial', GREATEST($1::bigint, last_value)) FROM person_serial",
            max(in_range),
        )
    fresh = [r for r in kept if r.person_no is None]
    numbers = await _numbers(conn, "person_serial", len(fresh))
    for r, number in zip(fresh, numbers, strict=True):
        r.person_no = number

    keys = sorted({r.household_key for r in kept if r.household_key})
    # In an initial load nearly every household is new: no lookup first.
    households = {} if initial else dict(await conn.fetch(HOUSEHOLDS_KNOWN, keys))
    missing = [k for k in keys if k not in households]
    if missing:
        numbers = await _numbers(conn, "household_serial", len(missing))
        households.update(await conn.fetch(HOUSEHOLDS, missing, numbers))
        # An earlier chunk, or another connection first, created the rest: theirs stand.
        if taken := [k for k in missing if k not in households]:
            households.update(await conn.fetch(HOUSEHOLDS_KNOWN, taken))
    for r in kept:  # from here on the field holds the household number
        r.household_key = households[r.household_key] if r.household_key else None
    return kept


def prepare(chunk: list[Record], vault: MyNumberVault) -> "Prepared":
    """Encrypt the My Numbers; stage the people already registered for the set-based merge;
    the rest are new people, COPY'd straight into their tables."""
    prepared = Prepared()
    index_key_id = vault.index_key_id
    # Sealed together (one random read for every nonce), each bound to its person number.
    key_id, sealed = vault.encrypt_many(
        [(r.my_number, f"{r.person_no}".encode()) for r in chunk if r.my_number is not None]
    )
    ciphers = iter(sealed)
    for r in chunk:
        if r.person_no is None:  # (before anything is written: the sealing above is discarded)
            raise ValueError("a chunk is numbered (resolve) before it is prepared")
        cipher = blind = None
        if r.my_number is not None:
            # During a re-keying the previous key's index finds a holder not re-keyed yet.
            indexes = vault.lookup_indexes(r.my_number)
            blind = indexes[0]
            cipher = next(ciphers)
            for index in indexes:
                prepared.numbers[index] = (r.line, r.person_no)
        data = (
            r.external_key,
            r.residence_status,
            r.family_name,
            r.given_name,
            r.family_name_kana,
            r.given_name_kana,
            r.name_key,
            r.kana_key,
            r.sex,
            r.birth_date,
            r.death_date,
            r.postal_code,
            r.prefecture,
            r.municipality_code,
            r.ward_code,
            r.town,
            r.block,
            r.building,
            r.household_key,
            r.relationship_to_head,
            r.phone,
            r.email,
        )
        if not r.is_new:
            prepared.staging.append(
                (
                    r.line,
                    r.person_no,
                    *data,
                    key_id if cipher else None,
                    cipher,
                    blind,
                    index_key_id,
                    r.effective_date,
                )
            )
            continue
        prepared.new.append(
            NewPerson(
                r.line,
                (r.person_no, 1, "[]", *data),
                r.effective_date,
                (r.person_no, key_id, cipher, blind, index_key_id) if blind is not None else None,
            )
        )
    return prepared


class NewPerson(NamedTuple):  # a tuple: built a million times in a load
    line: int
    person: tuple[Any, ...]
    effective_date: date
    my_number: tuple[Any, ...] | None


@dataclass
class Prepared:
    staging: list[tuple[Any, ...]] = field(default_factory=list)
    new: list[NewPerson] = field(default_factory=list)
    numbers: dict[bytes, tuple[int, str]] = field(default_factory=dict)  # blind: line, person
