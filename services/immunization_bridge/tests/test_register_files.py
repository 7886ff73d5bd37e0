"""Files out: births, move-ins, move-outs, deaths and name changes of children under the age
limit go to the register in cp932 batch files; a run takes each change once, and a lost file
is delivered again byte for byte."""

import csv
import io
from datetime import date
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from immunization_bridge.children.consumer import apply_person_event
from immunization_bridge.cli import register_file_build, register_file_deliver
from immunization_bridge.config import Settings
from immunization_bridge.register_files.layout import HEADER
from immunization_bridge.register_files.service import Actor, build
from mch_common.audit import AuditRecord
from mch_common.events import CloudEvent
from mch_common.person_numbers import person_no_from_serial
from mch_common.work import UnitOfWork

from .conftest import YAHATANISHI, Headers, person_event

TODAY = date(2026, 12, 2)
OPERATOR = Actor(operator="cli:test")
CHILD = person_no_from_serial(100_000_201)
SIBLING = person_no_from_serial(100_000_202)
ADULT = person_no_from_serial(100_000_203)
FUKUOKA = "401307"  # 福岡市 (municipality code with check digit)


def lines_of(content: bytes) -> list[dict[str, str]]:
    rows = list(csv.reader(io.StringIO(content.decode("cp932"), newline="")))
    assert tuple(rows[0]) == HEADER
    return [dict(zip(HEADER, row, strict=True)) for row in rows[1:]]


async def apply(session: AsyncSession, *events: CloudEvent) -> None:
    for event in events:
        await apply_person_event(session, event)


async def test_a_child_who_moved_out_leaves_the_files_out(session: AsyncSession) -> None:
    birth = date(2026, 2, 28)
    born = person_event(CHILD, birth_date=birth)
    moved_out = person_event(
        CHILD,
        birth_date=birth,
        verb="moved_out",
        version=2,
        residence_status="moved_out",
        effective_date=date(2026, 9, 15),
        extra={"destination_municipality_code": FUKUOKA},
    )
    await apply(session, born)
    first = await build(session, actor=OPERATOR, on=TODAY)
    await apply(session, moved_out, moved_out)  # the move-out delivered twice

    second = await build(session, actor=OPERATOR, on=TODAY)
    again = await build(session, actor=OPERATOR, on=TODAY)

    assert [line["change"] for line in lines_of(first.content)] == ["born"]
    (line,) = lines_of(second.content)
    assert (line["change"], line["person_no"], line["effective_date"]) == (
        "moved_out",
        CHILD,
        "2026-09-15",
    )
    assert (line["other_municipality_code"], line["birth_date"], line["version"]) == (
        FUKUOKA,
        "2026-02-28",
        "2",
    )
    assert (line["family_name"], line["given_name_kana"], line["sex"]) == ("山田", "ハナコ", "2")
    assert (second.changes, second.counts["moved_out"]) == (1, 1)
    # Re-running takes nothing twice: the next file is empty (0件), its header alone.
    assert (again.changes, lines_of(again.content)) == (0, [])
    assert first.filename == f"IMMREG_20261202_{first.id:06d}.csv" != second.filename


async def test_every_kind_of_change_of_a_child_and_nothing_of_an_adult(
    session: AsyncSession,
) -> None:
    birth = date(2025, 5, 31)
    await apply(
        session,
        person_event(
            CHILD,
            birth_date=birth,
            verb="moved_in",
            effective_date=date(2026, 4, 1),
            extra={"previous_municipality_code": FUKUOKA},
        ),
        person_event(CHILD, birth_date=birth, verb="address_changed", version=2),  # not sent
        person_event(
            CHILD,
            birth_date=birth,
            verb="name_changed",
            version=3,
            family_name="佐藤",
            effective_date=date(2026, 6, 1),
        ),
        person_event(SIBLING, birth_date=date(2026, 11, 1)),
        person_event(
            SIBLING,
            birth_date=date(2026, 11, 1),
            verb="died",
            version=2,
            residence_status="deceased",
            death_date=date(2026, 11, 20),
            effective_date=date(2026, 11, 20),
            ward_code=YAHATANISHI,
        ),
        # An adult's move-in: past the schedule's age limit, not the register's business.
        person_event(
            ADULT, birth_date=date(1990, 1, 1), verb="moved_in", effective_date=date(2026, 4, 1)
        ),
    )

    run = await build(session, actor=OPERATOR, on=TODAY)

    lines = lines_of(run.content)
    assert [(line["person_no"], line["change"]) for line in lines] == [
        (CHILD, "moved_in"),
        (CHILD, "name_changed"),
        (SIBLING, "born"),
        (SIBLING, "died"),
    ]
    assert lines[0]["other_municipality_code"] == FUKUOKA
    assert lines[1]["family_name"] == "佐藤"
    assert (lines[3]["death_date"], lines[3]["ward_code"]) == ("2026-11-20", YAHATANISHI)
    assert run.counts == {
        "born": 1,
        "moved_in": 1,
        "moved_out": 0,
        "died": 1,
        "name_changed": 1,
    }
    # The file is a person's data: the build's access record names both children.
    await UnitOfWork.of(session).flush()
    (audit,) = (
        await session.execute(
            select(AuditRecord).where(
                AuditRecord.action == "register_file.build",
                AuditRecord.target_id == str(run.id),
            )
        )
    ).scalars()
    assert (audit.actor, sorted(audit.persons)) == ("cli:test", sorted([CHILD, SIBLING]))


async def test_a_name_cp932_cannot_write_is_written_with_geta_and_counted(
    session: AsyncSession,
) -> None:
    await apply(session, person_event(CHILD, birth_date=date(2026, 10, 1), family_name="𠮷田"))

    run = await build(session, actor=OPERATOR, on=TODAY)

    assert lines_of(run.content)[0]["family_name"] == "〓田"
    assert run.substituted_characters == 1


async def test_over_rest_a_lost_file_is_delivered_again_byte_for_byte(
    client: httpx.AsyncClient, headers: Headers, session: AsyncSession
) -> None:
    await apply(session, person_event(CHILD, birth_date=date(2026, 10, 1)))

    refused = await client.post("/register-files", headers=headers("immunization:status:read"))
    built = await client.post("/register-files", headers=headers())
    assert refused.status_code == 403
    assert built.status_code == 201, built.text
    run = built.json()
    first = await client.get(f"/register-files/{run['id']}/content", headers=headers())
    lost = await client.get(f"/register-files/{run['id']}/content", headers=headers())
    detail = await client.get(f"/register-files/{run['id']}", headers=headers())
    listed = await client.get("/register-files", params={"limit": 1}, headers=headers())
    missing = await client.get("/register-files/999999/content", headers=headers())

    assert first.status_code == lost.status_code == 200
    assert first.content == lost.content
    assert first.headers["content-type"] == "text/csv; charset=cp932"
    assert first.headers["x-content-sha256"] == run["sha256"]
    assert run["filename"] in first.headers["content-disposition"]
    assert [line["person_no"] for line in lines_of(first.content)] == [CHILD]
    assert detail.json()["deliveries"] == 2
    assert [(c["person_no"], c["change"]) for c in detail.json()["changes_in_file"]] == [
        (CHILD, "born")
    ]
    page = listed.json()
    assert [item["id"] for item in page["items"]] == [run["id"]]
    assert "changes_in_file" not in page["items"][0]
    assert missing.status_code == 404
    delivered = (
        await session.execute(
            select(AuditRecord.actor, AuditRecord.persons).where(
                AuditRecord.action == "register_file.deliver",
                AuditRecord.target_id == str(run["id"]),
            )
        )
    ).all()
    assert delivered == [("staff-0001", [CHILD]), ("staff-0001", [CHILD])]


async def test_the_cli_writes_the_file_whole_and_delivers_it_again(
    settings: Settings,
    committed_sessions: async_sessionmaker[AsyncSession],  # empties the tables afterwards
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with committed_sessions() as session:
        await apply(session, person_event(CHILD, birth_date=date(2026, 10, 1)))
        await session.commit()
    outbox = tmp_path / "outbox"

    assert await register_file_build(settings, directory=outbox, operator="cli:test") == 0
    (written,) = outbox.iterdir()
    content = written.read_bytes()
    written.unlink()  # lost on the way
    run_id = int(written.stem.rsplit("_", 1)[1])
    assert await register_file_deliver(settings, run_id=run_id, directory=outbox, operator="t") == 0

    assert [p.name for p in outbox.iterdir()] == [written.name]
    assert written.read_bytes() == content
    assert [line["person_no"] for line in lines_of(content)] == [CHILD]
    assert f"{written.name}: 1 lines" in capsys.readouterr().err
    missing = await register_file_deliver(
        settings, run_id=run_id + 1000, directory=outbox, operator="t"
    )
    assert missing == 1
    assert f"no register file run {run_id + 1000}" in capsys.readouterr().err
