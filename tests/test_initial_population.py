"""An initial population, both ways: atena loads the registry extract with `--no-events` and
exports it, and boshi_core's `import-people` fills its read model from that export with what
the `registered` events would have written; or the load writes its events and boshi_core
applies them as they come."""

import asyncio
import csv
import json
import os
import sys
from pathlib import Path
from typing import Any

import asyncpg
from faker import Faker
from sqlalchemy import text

import atena
from atena import cli as atena_cli
from atena.bulk.export import export_csv
from atena.bulk.parse import HEADER
from atena.config import Settings as AtenaSettings
from boshi_core.migrate import MIGRATIONS as BOSHI_MIGRATIONS
from mch_common.db import asyncpg_dsn
from mch_common.events.batch import expand_batch
from mch_common.mynumber import my_number_check_digit
from mch_testing.plugin import DatabaseFactory
from mch_testing.waiting import eventually

from .conftest import Stack

PEOPLE = 30


def extract_rows(count: int) -> list[dict[str, str]]:
    fake = Faker("ja_JP")
    fake.seed_instance(20261126)
    rows = []
    for i in range(count):
        base = f"{31_000_000_000 + i * 7:011d}"
        rows.append(
            {
                "external_key": f"K{i:06d}",
                "person_no": "",
                "residence_status": "resident",
                "family_name": fake.last_name(),
                "given_name": fake.first_name_female(),
                "family_name_kana": fake.last_kana_name(),
                "given_name_kana": fake.first_kana_name(),
                "sex": "female",
                "birth_date": f"19{80 + i % 20}-0{1 + i % 9}-1{i % 10}",
                "death_date": "",
                "postal_code": "8030813",
                "prefecture": "福岡県",
                "municipality_code": "401005",
                "ward_code": "401064" if i % 2 else "401072",
                "town": "城内",
                "block": f"{i}-1",
                "building": "",
                "household_key": f"H{i // 2:05d}",
                "relationship_to_head": "head" if i % 2 == 0 else "spouse",
                "phone": "",
                "email": "",
                "my_number": base + str(my_number_check_digit(base)),
                "effective_date": "2025-04-01",
            }
        )
    return rows


async def boshi_cli(*args: str, database_url: str) -> tuple[int, dict[str, Any] | None, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "boshi_core.cli",
        *args,
        env=os.environ | {"BOSHI_DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, json.loads(out) if out.strip() else None, err.decode()


async def test_boshi_core_imports_atenas_export_as_the_events_would_have(
    database_factory: DatabaseFactory, test_database_name: str, tmp_path: Path
) -> None:
    atena_db = await database_factory.create(
        f"{test_database_name}_pop_atena", Path(atena.__file__).parent / "migrations"
    )
    boshi_db = await database_factory.create(f"{test_database_name}_pop_boshi", BOSHI_MIGRATIONS)
    # The initial load drops and rebuilds indexes: the owner's to run, like the migrations.
    settings = AtenaSettings(database_url=database_factory.owner_url(atena_db), environment="test")
    extract = tmp_path / "extract.csv"
    with extract.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(extract_rows(PEOPLE))
    loaded = await atena_cli.load(settings, str(extract), emit_events=False, quiet=True)
    assert (loaded.inserted, loaded.rejected) == (PEOPLE, 0)

    atena_conn = await asyncpg.connect(asyncpg_dsn(atena_db))
    try:
        # One person has a delivery address: it must reach boshi_core (reminder letters).
        await atena_conn.execute(
            "UPDATE person SET delivery_addresses = $1::jsonb WHERE person_no ="
            " (SELECT min(person_no) FROM person)",
            json.dumps([{"purpose": "mch", "postal_code": "8040001", "address": "戸畑区1-1"}]),
        )
        export = tmp_path / "export.csv"
        with export.open("wb") as out:
            assert await export_csv(atena_conn, out, encoding="cp932") == PEOPLE
        snapshots = {
            row["person_no"]: json.loads(row["snap"])
            for row in await atena_conn.fetch(
                "SELECT person_no, atena_snapshot(p)::text AS snap FROM person p"
            )
        }
    finally:
        await atena_conn.close()

    code, summary, err = await boshi_cli(
        "import-people",
        str(export),
        "--encoding",
        "cp932",
        "--batch-size",
        "7",
        database_url=boshi_db,
    )
    assert code == 0, err
    assert summary is not None
    assert (summary["lines"], summary["applied"], summary["rejected"]) == (PEOPLE, PEOPLE, 0)
    assert "import-people: 30 lines read" in err  # progress on stderr

    boshi_conn = await asyncpg.connect(asyncpg_dsn(boshi_db))
    try:
        held = {row["person_no"]: row for row in await boshi_conn.fetch("SELECT * FROM people")}
        assert held.keys() == snapshots.keys()
        for person_no, snap in snapshots.items():
            row = held[person_no]
            assert row["version"] == snap["version"]
            assert (row["family_name"], row["given_name"]) == (
                snap["family_name"],
                snap["given_name"],
            )
            assert row["birth_date"].isoformat() == snap["birth_date"]
            assert row["ward_code"] == snap["address"]["ward_code"]
            assert json.loads(row["address"]) == snap["address"]
            assert json.loads(row["delivery_addresses"]) == snap["delivery_addresses"]
            assert row["household_no"] == snap["household_no"]
            assert row["last_event_type"] == "atena.export"

        # A newer snapshot (an event applied since) is kept; a re-run changes nothing else.
        newer = min(snapshots)
        await boshi_conn.execute(
            "UPDATE people SET version = 5, family_name = '新姓' WHERE person_no = $1", newer
        )
        code, summary, err = await boshi_cli(
            "import-people", str(export), "--encoding", "cp932", database_url=boshi_db
        )
        assert code == 0, err
        assert summary is not None
        assert (summary["applied"], summary["kept_newer"]) == (0, PEOPLE)
        assert (
            await boshi_conn.fetchval("SELECT family_name FROM people WHERE person_no = $1", newer)
            == "新姓"
        )
    finally:
        await boshi_conn.close()


async def test_bad_lines_are_named_and_the_rest_imported(
    database_factory: DatabaseFactory, test_database_name: str, tmp_path: Path
) -> None:
    boshi_db = await database_factory.create(f"{test_database_name}_pop_bad", BOSHI_MIGRATIONS)
    header = (
        "person_no,external_key,residence_status,family_name,given_name,birth_date,"
        "ward_code,version,delivery_addresses"
    )
    export = tmp_path / "export.csv"
    export.write_text(
        "\n".join(
            [
                header,
                "0000000019,K1,resident,北九,花子,1990-04-01,401064,1,[]",
                "0000000027,K2,resident,北九,桜,1990-02-30,401064,1,[]",  # no such day
                "12345,K3,resident,北九,梅,1990-01-01,401064,1,[]",
                "0000000035,K4,gone,北九,桃,1990-01-01,401064,1,[]",
                "0000000043,K5,resident,北九,菊,1990-01-01,401064,1,{broken",
                "0000000051,K6,resident,北九,蘭,1991-01-01,401064,2,[]",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    code, summary, err = await boshi_cli("import-people", str(export), database_url=boshi_db)
    assert code == 2, err
    assert summary is not None
    assert (summary["lines"], summary["applied"], summary["rejected"]) == (6, 2, 4)
    assert "line 3: birth_date: not a date" in err
    assert "line 4: person_no: not a 10-digit person number" in err
    assert "line 5: residence_status: unknown status" in err
    assert "line 6: delivery_addresses: not JSON" in err
    # Where and why, never the value.
    assert "1990-02-30" not in err
    assert "12345" not in err

    code, summary, err = await boshi_cli(
        "import-people", str(tmp_path / "extract-not-export.csv"), database_url=boshi_db
    )
    assert code == 2
    assert summary is None
    assert "No such file" in err or "not found" in err.lower()


async def test_a_load_with_events_reaches_boshi_core_through_the_relay(
    stack: Stack, database_factory: DatabaseFactory, tmp_path: Path
) -> None:
    """The load writes one outbox batch row per chunk; the running atena's relay expands each
    into its registrations (ids stable across expansions), and boshi_core applies every one,
    once, with the snapshot atena holds."""
    running: AtenaSettings = stack.atena_app.state.settings
    # The load may drop and rebuild indexes (an empty registry): the owner's to run.
    owner_url = database_factory.owner_url(running.database_url)
    settings = running.model_copy(update={"database_url": owner_url})
    rows = extract_rows(PEOPLE)
    for row in rows:  # a key space of its own: the stack is shared with other tests
        row["external_key"] = "E" + row["external_key"]
        row["household_key"] = "E" + row["household_key"]
        row["my_number"] = ""
    extract = tmp_path / "extract.csv"
    with extract.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)
    loaded = await atena_cli.load(settings, str(extract), chunk_size=8, quiet=True)
    assert (loaded.inserted, loaded.rejected) == (PEOPLE, 0)

    atena_conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        batches = await atena_conn.fetch(
            "SELECT event_id, subject, envelope::text FROM outbox"
            " WHERE envelope ? 'outbox_batch' ORDER BY position"
        )
        assert len(batches) == 4  # chunks of 8, 8, 8 and 6
        event_id, subject, envelope = batches[0]
        first = [id_ for id_, _ in expand_batch(event_id, subject, json.loads(envelope))]
        again = [id_ for id_, _ in expand_batch(event_id, subject, json.loads(envelope))]
        assert first == again
        assert len(set(first)) == 8
        snapshots = {
            row["person_no"]: json.loads(row["snap"])
            for row in await atena_conn.fetch(
                "SELECT person_no, atena_snapshot(p)::text AS snap FROM person p"
                " WHERE external_key LIKE 'EK%'"
            )
        }
    finally:
        await atena_conn.close()
    assert len(snapshots) == PEOPLE
    await stack.outboxes_drained()

    async def applied() -> dict[str, Any]:
        async with stack.boshi_app.state.sessions() as session:
            result = await session.execute(
                text(
                    "SELECT person_no, family_name, version, last_event_type FROM people"
                    " WHERE person_no = ANY(:nos)"
                ),
                {"nos": list(snapshots)},
            )
            return {row.person_no: row for row in result}

    held = await eventually(
        applied,
        lambda got: len(got) == PEOPLE,
        within=20,
        what="boshi_core applying the load's registrations",
    )
    for person_no, snap in snapshots.items():
        assert held[person_no].family_name == snap["family_name"]
        assert held[person_no].version == 1
        assert held[person_no].last_event_type == "atena.person.registered"
    async with stack.boshi_app.state.sessions() as session:
        applied_ids = (
            (
                await session.execute(
                    text(
                        "SELECT event_id FROM inbox WHERE consumer LIKE '%boshi_core-atena'"
                        " AND event_id = ANY(:ids)"
                    ),
                    {"ids": [str(i) for i in first]},
                )
            )
            .scalars()
            .all()
        )
    assert sorted(applied_ids) == sorted(str(i) for i in first)  # each applied once
