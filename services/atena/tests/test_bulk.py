"""Bulk load (per-line errors, idempotent re-run, Shift_JIS) and batch export."""

import contextlib
import csv
import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atena import cli
from atena.bulk.export import export_csv
from atena.bulk.loader import Loader
from atena.bulk.parse import HEADER
from atena.config import Settings
from atena.testing import Headers
from mch_common.dates import today_tokyo
from mch_common.db import asyncpg_dsn
from mch_common.events import CloudEvent, read_outbox
from mch_common.mynumber import generate_my_number


def line(**overrides: str) -> dict[str, str]:
    row = dict.fromkeys(HEADER, "")
    row.update(
        {
            "residence_status": "resident",
            "family_name": "髙橋",
            "given_name": "花子",
            "family_name_kana": "ﾀｶﾊｼ",
            "given_name_kana": "ハナコ",
            "sex": "2",
            "birth_date": "19940510",
            "postal_code": "802-0001",
            "prefecture": "福岡県",
            "municipality_code": "401005",
            "ward_code": "401064",
            "town": "小倉北区浅野",
            "block": "1-1",
            "relationship_to_head": "世帯主",
            "effective_date": "2024-04-01",
        }
    )
    row.update(overrides)
    return row


def write_csv(path: Path, rows: list[dict[str, str]], encoding: str = "utf-8") -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HEADER, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))


async def count(sessions: async_sessionmaker[AsyncSession], sql: str) -> int:
    async with sessions() as session:
        return int((await session.execute(text(sql))).scalar_one())


async def outbox(sessions: async_sessionmaker[AsyncSession]) -> list[dict[str, Any]]:
    async with sessions() as session:
        return await read_outbox(session)


@contextlib.asynccontextmanager
async def one_connection_loader(
    settings: Settings, **options: Any
) -> AsyncIterator[tuple[Loader, asyncpg.Connection]]:
    """A Loader on a connection of its own, closed after."""
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        loader = Loader(
            [conn],
            tenant=settings.tenant,
            vault=settings.vault,
            actor="test",
            today=today_tokyo(),
            **options,
        )
        yield loader, conn
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def load_settings(service_settings: dict[str, Any], owner_database_url: str) -> Settings:
    """The initial load drops and rebuilds indexes, DDL that only the owner may run: an
    operator runs it as the owner, like the migrations."""
    return Settings(**{**service_settings, "database_url": owner_database_url})


@pytest.fixture
def numbers() -> list[str]:
    return [generate_my_number() for _ in range(4)]


@pytest.fixture
def good_rows(numbers: list[str]) -> list[dict[str, str]]:
    return [
        line(external_key="J001", my_number=numbers[0], household_key="H1"),
        line(
            external_key="J002",
            given_name="太郎",
            given_name_kana="タロウ",
            sex="1",
            birth_date="2023-02-01",
            relationship_to_head="子",
            household_key="H1",
            my_number=numbers[1],
        ),
        line(
            external_key="J003",
            family_name="渡邉",
            family_name_kana="ワタナベ",
            household_key="H2",
            my_number=numbers[2],
        ),
        line(
            external_key="J004",
            family_name="鈴木",
            family_name_kana="スズキ",
            residence_status="non_resident",
            municipality_code="401307",
            ward_code="",
            town="福岡市中央区天神",
            household_key="",
        ),
    ]


async def test_load_reports_bad_lines_and_keeps_good_ones(
    tmp_path: Path,
    load_settings: Settings,
    good_rows: list[dict[str, str]],
    numbers: list[str],
    committed_sessions: async_sessionmaker[AsyncSession],
    committed_client: httpx.AsyncClient,
    headers: Headers,
) -> None:
    bad_number = numbers[3][:11] + str((int(numbers[3][11]) + 1) % 10)
    rows = [
        good_rows[0],
        line(external_key="B01", my_number=bad_number),  # line 3
        good_rows[1],
        line(external_key="B02", birth_date="2023-02-30"),  # line 5
        line(external_key="B03", ward_code="401137"),  # line 6
        good_rows[2],
        line(external_key="J001", given_name="重複"),  # line 8
        line(external_key="B04", phone=numbers[3]),  # line 9
        line(external_key="B05", family_name=""),  # line 10
        line(external_key="B06", my_number=numbers[0]),  # line 11
        good_rows[3],
    ]
    path = tmp_path / "extract.csv"
    write_csv(path, rows)
    report = await cli.load(load_settings, str(path), quiet=True)
    assert report.summary() | {"seconds": 0} == {
        "encoding": "utf-8",
        "lines": 11,
        "inserted": 4,
        "updated": 0,
        "unchanged": 0,
        "rejected": 7,
        "seconds": 0,
    }
    errors = {(e.line, e.field) for e in report.errors}
    assert errors == {
        (3, "my_number"),
        (5, "birth_date"),
        (6, "ward_code"),
        (8, "external_key"),
        (9, "phone"),
        (10, "family_name"),
        (11, "my_number"),
    }
    report_text = (tmp_path / "extract.csv.errors.csv").read_text()
    assert report_text.startswith("line,field,reason")
    for n in numbers:
        assert n not in report_text

    # Loaded people read, search and look up like registered ones; one household for H1.
    found = await committed_client.get("/persons", params={"name": "高橋"}, headers=headers())
    assert found.json()["total"] == 2
    adult, child = sorted(found.json()["items"], key=lambda p: p["birth_date"])
    assert adult["household_no"] == child["household_no"]
    assert child["relationship_to_head"] == "child"
    assert child["sex"] == "male"
    r = await committed_client.post(
        "/persons/lookup-by-my-number", json={"my_number": numbers[2]}, headers=headers()
    )
    assert r.status_code == 200
    person = (
        await committed_client.get(f"/persons/{r.json()['person_no']}", headers=headers())
    ).json()
    assert person["family_name"] == "渡邉"
    assert person["version"] == 1

    async with committed_sessions() as session:
        envelopes = await read_outbox(session)
    assert [e["type"] for e in envelopes] == ["atena.person.registered"] * 4
    mine = next(e for e in envelopes if e["subject"] == person["person_no"])
    assert mine["data"]["person"] == {
        k: v for k, v in person.items() if k not in ("has_my_number", "my_number")
    }
    assert mine["data"]["effective_date"] == "2024-04-01"
    assert mine["tenant"] == "401005"
    assert mine["id"][14] == "7"  # UUIDv7
    # Expanded from the load's batch row at publish time, it is a complete CloudEvent.
    event = CloudEvent.model_validate(mine)
    assert (event.source, event.type, event.subject) == (
        "urn:mch:401005:atena",
        "atena.person.registered",
        person["person_no"],
    )
    assert len({e["id"] for e in envelopes}) == 4
    # The rows the loader builds itself are what the database's own snapshot function says.
    async with committed_sessions() as session:
        mismatched = (
            await session.execute(
                text(
                    "SELECT count(*) FROM person p JOIN person_version v USING (person_no)"
                    " JOIN person_change c USING (person_no)"
                    " WHERE v.snapshot <> atena_snapshot(p)"
                    " OR c.after <> atena_snapshot(p) - 'version'"
                    " OR c.before <> '{}'"
                    " OR v.valid_from <> c.effective_date OR c.change_type <> 'registered'"
                )
            )
        ).scalar_one()
        snapshots: dict[str, Any] = dict(
            (await session.execute(text("SELECT person_no, atena_snapshot(p) FROM person p"))).all()
        )
    assert mismatched == 0
    for e in envelopes:
        snapshot = snapshots[e["subject"]]
        assert e["data"]["person"] == snapshot
        assert e["data"]["after"] == {k: v for k, v in snapshot.items() if k != "version"}

    # The same file again changes nothing.
    again = await cli.load(load_settings, str(path), quiet=True)
    assert (again.inserted, again.updated, again.unchanged, again.rejected) == (0, 0, 4, 7)
    assert len(await outbox(committed_sessions)) == 4
    assert await count(committed_sessions, "SELECT count(*) FROM person_version") == 4

    # Numbers registered to someone else: a new person's line and a known person's line are
    # both rejected whole.
    write_csv(
        path,
        [
            line(external_key="N01", my_number=numbers[0]),
            good_rows[2] | {"my_number": numbers[1], "block": "9-9"},
        ],
    )
    taken = await cli.load(load_settings, str(path), quiet=True)
    assert (taken.inserted, taken.updated, taken.rejected) == (0, 0, 2)
    assert {(e.line, e.field, e.reason) for e in taken.errors} == {
        (2, "my_number", "registered to another person"),
        (3, "my_number", "registered to another person"),
    }
    assert await count(committed_sessions, "SELECT count(*) FROM person") == 4

    # A changed extract: a move, a death, a name change.
    changed = [
        good_rows[0] | {"block": "2-2", "effective_date": "2025-04-01"},
        good_rows[1],
        good_rows[2]
        | {
            "residence_status": "deceased",
            "death_date": "2025-01-05",
            "effective_date": "2025-01-05",
        },
        good_rows[3] | {"family_name": "斎藤", "family_name_kana": "サイトウ"},
    ]
    write_csv(path, changed)
    third = await cli.load(load_settings, str(path), quiet=True)
    assert (third.inserted, third.updated, third.unchanged) == (0, 3, 1)
    types = [e["type"] for e in (await outbox(committed_sessions))[4:]]
    assert sorted(types) == [
        "atena.person.address_changed",
        "atena.person.died",
        "atena.person.name_changed",
    ]
    moved = (
        await committed_client.get("/persons", params={"name": "高橋花子"}, headers=headers())
    ).json()["items"][0]
    old = (
        await committed_client.get(
            f"/persons/{moved['person_no']}", params={"as_of": "2025-03-31"}, headers=headers()
        )
    ).json()
    assert (moved["address"]["block"], old["address"]["block"]) == ("2-2", "1-1")


async def test_shift_jis_extract_and_export(
    tmp_path: Path,
    load_settings: Settings,
    good_rows: list[dict[str, str]],
    committed_sessions: async_sessionmaker[AsyncSession],
) -> None:
    path = tmp_path / "sjis.csv"
    write_csv(path, good_rows, encoding="cp932")
    report = await cli.load(load_settings, str(path), quiet=True)
    assert report.encoding == "cp932"
    assert report.inserted == 4
    assert report.rejected == 0

    conn = await asyncpg.connect(asyncpg_dsn(load_settings.database_url))
    try:
        out = io.BytesIO()
        exported = await export_csv(conn, out, encoding="cp932", ward_code="401064")
        all_out = io.BytesIO()
        assert await export_csv(conn, all_out) == 4
    finally:
        await conn.close()
    assert exported == 3
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode("cp932"))))
    assert {r["family_name"] for r in rows} == {"髙橋", "渡邉"}
    assert "my_number" not in rows[0]


def test_cli_runs_as_a_module(
    tmp_path: Path,
    load_settings: Settings,
    good_rows: list[dict[str, str]],
    committed_sessions: async_sessionmaker[AsyncSession],
) -> None:
    path = tmp_path / "extract.csv"
    write_csv(path, [*good_rows, line(external_key="X", sex="?")])
    env: dict[str, Any] = {
        **os.environ,
        "ATENA_DATABASE_URL": load_settings.database_url,
        "ATENA_ENVIRONMENT": "test",
    }
    done = subprocess.run(
        [sys.executable, "-m", "atena.cli", "load", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert '"inserted": 4' in done.stdout
    assert "rejected" in done.stderr
    exported = subprocess.run(
        [sys.executable, "-m", "atena.cli", "export", "--status", "resident"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert exported.returncode == 0, exported.stderr
    assert len(exported.stdout.strip().splitlines()) == 1 + 3


def many_rows(count: int, households: int) -> tuple[list[dict[str, str]], list[str]]:
    numbers = [generate_my_number() for _ in range(count)]
    rows = [
        line(
            external_key=f"M{i:04d}",
            my_number=numbers[i],
            household_key=f"H{i % households}",
            given_name=f"花子{i}",
            relationship_to_head="世帯主" if i < households else "子",
        )
        for i in range(count)
    ]
    return rows, numbers


async def schema_objects(sessions: async_sessionmaker[AsyncSession]) -> set[str]:
    async with sessions() as session:
        return {
            row[0]
            for row in await session.execute(
                text(
                    "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
                    " UNION ALL SELECT conname"
                    " || CASE WHEN convalidated THEN '' ELSE ' NOT VALID' END"
                    " FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
                )
            )
        }


async def test_chunks_on_two_connections_share_households_and_keep_one_copy_of_each(
    tmp_path: Path,
    load_settings: Settings,
    committed_sessions: async_sessionmaker[AsyncSession],
) -> None:
    before = await schema_objects(committed_sessions)
    rows, numbers = many_rows(60, households=7)
    rows.append(line(external_key="DUP", my_number=numbers[3]))  # a number seen 57 lines up
    path = tmp_path / "extract.csv"
    write_csv(path, rows)
    # Chunks of 4 lines: members of one household land in chunks loaded at the same time.
    report = await cli.load(load_settings, str(path), chunk_size=4, connections=2, quiet=True)
    assert (report.inserted, report.rejected) == (60, 1)
    assert [(e.line, e.field) for e in report.errors] == [(62, "my_number")]
    # An initial load drops and rebuilds the secondary indexes and constraints: all are back.
    assert await schema_objects(committed_sessions) == before
    assert await count(committed_sessions, "SELECT count(*) FROM bulk_deferred_index") == 0
    assert await count(committed_sessions, "SELECT count(*) FROM household") == 7
    assert await count(committed_sessions, "SELECT count(DISTINCT household_no) FROM person") == 7
    for table in ("person_version", "person_change", "person_my_number"):
        assert await count(committed_sessions, f"SELECT count(*) FROM {table}") == 60, table
    events = await outbox(committed_sessions)
    assert len(events) == len({e["subject"] for e in events}) == 60
    # The load ends with fresh statistics, none on the history's documents (migration 0008).
    async with committed_sessions() as session:
        analyzed = set(
            (
                await session.execute(
                    text(
                        "SELECT tablename || '.' || attname FROM pg_stats"
                        " WHERE tablename IN ('person_version', 'person_change')"
                    )
                )
            ).scalars()
        )
    assert {"person_version.person_no", "person_change.change_type"} <= analyzed
    assert not analyzed & {
        "person_version.snapshot",
        "person_change.before",
        "person_change.after",
        "person_change.detail",
    }


async def test_interrupted_initial_load_restores_indexes_and_a_rerun_completes_it(
    tmp_path: Path,
    load_settings: Settings,
    committed_sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from atena.bulk.writing import ChunkWriter

    before = await schema_objects(committed_sessions)
    rows, _ = many_rows(40, households=5)
    path = tmp_path / "extract.csv"
    write_csv(path, rows)
    write = ChunkWriter.write
    calls = 0

    async def failing(self: ChunkWriter, conn: asyncpg.Connection, prepared: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise ConnectionResetError("the database went away")
        await write(self, conn, prepared)

    monkeypatch.setattr(ChunkWriter, "write", failing)
    with pytest.raises(ConnectionResetError):
        await cli.load(load_settings, str(path), chunk_size=5, connections=2, quiet=True)
    monkeypatch.undo()
    assert await schema_objects(committed_sessions) == before
    loaded = await count(committed_sessions, "SELECT count(*) FROM person")
    assert 0 < loaded < 40

    again = await cli.load(load_settings, str(path), chunk_size=5, connections=2, quiet=True)
    assert (again.inserted, again.unchanged, again.rejected) == (40 - loaded, loaded, 0)
    for table in ("person", "person_version", "person_change", "person_my_number"):
        assert await count(committed_sessions, f"SELECT count(*) FROM {table}") == 40, table
    assert len(await outbox(committed_sessions)) == 40
    assert await count(committed_sessions, "SELECT count(*) FROM household") == 5


async def test_a_rebuild_interrupted_between_its_steps_is_finished_by_the_next(
    tmp_path: Path,
    load_settings: Settings,
    committed_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A unique constraint is built as an index then attached, a foreign key added NOT VALID
    then validated: a rebuild stopped after the first steps is completed by the next load."""
    from atena.bulk.indexes import drop_secondary_indexes, plan_rebuild

    before = await schema_objects(committed_sessions)
    rows, _ = many_rows(12, households=3)
    path = tmp_path / "extract.csv"
    write_csv(path, rows)
    await cli.load(load_settings, str(path), chunk_size=5, connections=2, quiet=True)
    conn = await asyncpg.connect(asyncpg_dsn(load_settings.database_url))
    try:
        await drop_secondary_indexes(conn)
        deferred = [
            tuple(row) for row in await conn.fetch("SELECT name, ddl FROM bulk_deferred_index")
        ]
        jobs = plan_rebuild(deferred)
        first_steps = [j for j in jobs if j.key.startswith(("build uq_", "add fk_"))]
        assert {j.key.split()[0] for j in first_steps} == {"build", "add"}
        for job in first_steps:  # the steps that leave their deferred row in place
            assert job.done_with is None
            for statement in job.statements:
                await conn.execute(statement)
        half_done = await schema_objects(committed_sessions)
        assert any(name.endswith(" NOT VALID") for name in half_done)
    finally:
        await conn.close()
    again = await cli.load(load_settings, str(path), chunk_size=5, connections=2, quiet=True)
    assert again.unchanged == 12
    assert await count(committed_sessions, "SELECT count(*) FROM bulk_deferred_index") == 0
    assert await schema_objects(committed_sessions) == before


@pytest.mark.parametrize(("emit_events", "commit"), [(True, "on"), (False, "off")])
async def test_a_load_with_events_commits_its_chunks_durably(
    tmp_path: Path,
    load_settings: Settings,
    committed_sessions: async_sessionmaker[AsyncSession],  # (empties the tables afterwards)
    emit_events: bool,
    commit: str,
) -> None:
    """An asynchronous commit is visible before it is durable: the relay could publish a chunk
    that a crash of the database then takes back. Without events a re-run repairs it."""
    rows, _ = many_rows(3, households=1)
    path = tmp_path / "extract.csv"
    write_csv(path, rows)
    async with one_connection_loader(load_settings, emit_events=emit_events) as (loader, conn):
        report = await loader.load(str(path))
        assert (report.lines, report.rejected) == (3, 0)
        assert await conn.fetchval("SHOW synchronous_commit") == commit


async def test_a_file_the_parsing_process_cannot_read_fails_with_its_reason(
    tmp_path: Path,
    load_settings: Settings,
    good_rows: list[dict[str, str]],
    committed_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The file is read in a process of its own; its failures reach the caller as they are."""
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("external_key,name\nJ1,髙橋\n", encoding="utf-8")
    with pytest.raises(ValueError, match="the header does not match"):
        await cli.load(load_settings, str(wrong), quiet=True)
    with pytest.raises(FileNotFoundError):
        await cli.load(load_settings, str(tmp_path / "missing.csv"), encoding="utf-8", quiet=True)

    # Bytes that are not UTF-8 on a later line: the load stops with the decoding error.
    undecodable = tmp_path / "undecodable.csv"
    write_csv(undecodable, good_rows)
    with undecodable.open("ab") as out:
        out.write(b"J9,," + "髙橋".encode("cp932") + b",\r\n")
    with pytest.raises(UnicodeDecodeError):
        await cli.load(load_settings, str(undecodable), encoding="utf-8", chunk_size=2, quiet=True)


async def test_the_parsing_process_sends_growing_chunks_and_the_load_collects_no_garbage(
    tmp_path: Path,
    load_settings: Settings,
    committed_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The parsing process runs as a module of its own and ends when the file does; the
    collector is off while a load runs (its chunks are freed by reference counts) and on after."""
    import gc

    from atena.bulk.handover import receive_chunk, start_parser

    rows, _ = many_rows(3_500, households=900)
    rows[2_000]["birth_date"] = "not a date"
    path = tmp_path / "extract.csv"
    write_csv(path, rows)
    process, receiver = start_parser(str(path), "utf-8", 2_000, load_settings.tenant, today_tokyo())
    try:
        received = []
        while (chunk := receive_chunk(receiver)) is not None:
            records, errors, lines = chunk
            received.append((len(records), [(e.line, e.field) for e in errors], lines))
    finally:
        receiver.close()
    assert process.wait(timeout=30) == 0
    # 1,000 then 2,000 valid records (the bad line is among the second's 2,001), then the rest.
    assert received == [
        (1_000, [], 1_000),
        (2_000, [(2_002, "birth_date")], 2_001),
        (499, [], 499),
        (0, [], 0),
    ]

    enabled: list[bool] = []
    async with one_connection_loader(load_settings) as (loader, _):
        report = await loader.load(
            str(path), chunk_size=2_000, progress=lambda _: enabled.append(gc.isenabled())
        )
    assert (report.inserted, report.rejected) == (3_499, 1)
    assert enabled == [False, False, False]
    assert gc.isenabled()


async def test_the_next_chunk_is_received_only_once_the_last_one_was_taken(
    tmp_path: Path,
    load_settings: Settings,
    committed_sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One chunk's records wait for a connection, never two (the load's peak memory): while
    the connections are busy the parsing process reads ahead into the pipe instead."""
    import asyncio

    from atena.bulk import loader as loader_module
    from atena.bulk.numbering import resolve

    rows, _ = many_rows(40, households=8)
    path = tmp_path / "extract.csv"
    write_csv(path, rows)
    received = taken = 0
    waiting_at_receive: list[int] = []
    receive = Loader._receive

    def counting_receive(self: Loader, receiver: Any) -> Any:
        nonlocal received
        waiting_at_receive.append(received - taken)
        chunk = receive(self, receiver)
        received += bool(chunk)
        return chunk

    async def slow_resolve(conn: asyncpg.Connection, chunk: Any, **kwargs: Any) -> Any:
        nonlocal taken
        taken += 1
        await asyncio.sleep(0.05)  # a busy connection: the parsing side could run ahead
        return await resolve(conn, chunk, **kwargs)

    monkeypatch.setattr(Loader, "_receive", counting_receive)
    monkeypatch.setattr(loader_module, "resolve", slow_resolve)
    async with one_connection_loader(load_settings) as (loader, _):
        report = await loader.load(str(path), chunk_size=5)
    assert report.inserted == 40
    assert received == taken == 8
    assert len(waiting_at_receive) == 10  # 8 chunks, the lines rejected after them, the end
    assert max(waiting_at_receive) == 0
