"""Batch files in: cp932 with full-width digits and bad lines, the same file twice, corrections
and deletions in later files applied in file order, unknown people kept but flagged."""

from datetime import date

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from immunization_bridge.records.models import VaccinationRecord
from immunization_bridge.records.service import import_file
from mch_common.audit import AuditRecord
from mch_common.lines import LineError

from .conftest import Headers, MakeChild, csv_file

TODAY = date(2026, 12, 2)
INSTITUTION = "4010012345"


async def records(session: AsyncSession) -> dict[str, VaccinationRecord]:
    rows = (await session.execute(select(VaccinationRecord))).scalars()
    return {row.record_id: row for row in rows}


async def test_a_cp932_file_with_full_width_digits_keeps_good_lines_and_names_bad_ones(
    session: AsyncSession, make_child: MakeChild
) -> None:
    child = await make_child(date(2026, 1, 31))
    wide = child.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    data = csv_file(
        f"R0001,追加,{wide},bcg,１,令和8年6月1日,LOT-1,{INSTITUTION}",
        f"R0002,A,{child},dpt_ipv_hib,1,２０２６／４／１,,",
        f"R0003,A,{child},smallpox,1,2026-04-01,,",  # not a vaccine of the schedule
        f"R0004,A,{child},hepb,1,2026-02-30,,",  # no such date
        f"R0005,A,{child},hepb,4,2026-04-01,,",  # hepb has 3 doses
        f"R0006,A,{child[:-1]}0,hepb,1,2026-04-01,,",  # check digit
        f"R0007,A,{child},hepb,1,2027-01-01,,",  # after today
        f"R0008,X,{child},hepb,1,2026-04-01,,",
        "R0009,A,too,few",
        encoding="cp932",
    )

    report = await import_file(session, data=data, filename="r.csv", actor="t", today=TODAY)

    assert (report.encoding, report.lines, report.accepted, report.rejected) == ("cp932", 9, 2, 7)
    assert report.errors == [
        LineError(4, "vaccine", "not a vaccine of the schedule"),
        LineError(5, "given_on", "no such date"),
        LineError(6, "dose_no", "a dose number of this vaccine (1 to 3)"),
        LineError(7, "person_no", "not a person number (10 digits with check digit)"),
        LineError(8, "given_on", "after today"),
        LineError(9, "action", "A (add), C (correct) or D (delete)"),
        LineError(10, "line", "expected 8 columns"),
    ]
    kept = await records(session)
    assert set(kept) == {"R0001", "R0002"}
    assert (kept["R0001"].person_no, kept["R0001"].given_on) == (child, date(2026, 6, 1))
    assert kept["R0001"].person_known is True
    assert kept["R0002"].given_on == date(2026, 4, 1)


async def test_the_same_file_twice_changes_nothing(
    session: AsyncSession, make_child: MakeChild
) -> None:
    child = await make_child(date(2026, 1, 31))
    data = csv_file(f"R0001,A,{child},bcg,1,2026-06-01,,")

    first = await import_file(session, data=data, filename="a.csv", actor="t", today=TODAY)
    again = await import_file(session, data=data, filename="b.csv", actor="t", today=TODAY)

    assert (first.accepted, first.already_imported) == (1, False)
    assert (again.file_id, again.accepted, again.already_imported) == (first.file_id, 1, True)
    assert len(await records(session)) == 1


async def test_corrections_and_deletions_apply_in_file_order(
    session: AsyncSession, make_child: MakeChild
) -> None:
    child = await make_child(date(2026, 1, 31))
    first = csv_file(
        f"R0001,A,{child},bcg,1,2026-06-01,,",
        f"R0002,A,{child},hepb,1,2026-04-01,,",
        f"R0003,A,{child},hepb,2,2026-05-01,,",
    )
    later = csv_file(
        f"R0001,C,{child},bcg,1,2026-06-10,LOT-2,{INSTITUTION}",  # corrected date and lot
        "R0002,D,,,,,,",
        f"R0004,A,{child},pcv,1,2026-04-01,,",
        "R0004,削除,,,,,,",  # added and deleted in the same file
        f"R0002,A,{child},hepb,1,2026-04-03,,",  # re-added after its deletion
        "R9999,C,{child},bcg,1,2026-06-10,,".replace("{child}", child),  # no such record
        f"R0003,A,{child},hepb,2,2026-05-01,,",  # already there: a correction is C
    )

    await import_file(session, data=first, filename="1.csv", actor="t", today=TODAY)
    report = await import_file(session, data=later, filename="2.csv", actor="t", today=TODAY)

    assert (report.accepted, report.rejected) == (5, 2)
    assert [(e.line, e.field) for e in report.errors] == [(7, "record_id"), (8, "record_id")]
    kept = await records(session)
    assert (kept["R0001"].given_on, kept["R0001"].lot) == (date(2026, 6, 10), "LOT-2")
    assert (kept["R0002"].deleted, kept["R0002"].given_on) == (False, date(2026, 4, 3))
    assert kept["R0004"].deleted is True
    assert kept["R0001"].file_id == kept["R0004"].file_id == report.file_id


async def test_a_record_of_an_unknown_person_is_kept_and_flagged(session: AsyncSession) -> None:
    data = csv_file("R0001,A,1000000008,bcg,1,2026-06-01,,")

    report = await import_file(session, data=data, filename="u.csv", actor="t", today=TODAY)

    assert (report.accepted, report.unknown_people) == (1, 1)
    assert (await records(session))["R0001"].person_known is False


async def test_a_file_without_the_header_is_refused_whole(session: AsyncSession) -> None:
    data = b"R0001,A,1000000008,bcg,1,2026-06-01,,\r\n"

    report = await import_file(session, data=data, filename="h.csv", actor="t", today=TODAY)

    assert (report.accepted, report.errors[0].field) == (0, "header")


async def test_upload_over_rest_is_scope_checked_and_audited(
    client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
) -> None:
    body = csv_file("R0001,A,1000000008,bcg,1,2026-06-01,,", "R0002,A,1000000008,bcg,9,x,,")
    url = "/imports?filename=register-20261201.csv"

    refused = await client.post(url, content=body, headers=headers("immunization:status:read"))
    response = await client.post(
        url, content=body, headers={**headers(), "Content-Type": "text/csv"}
    )

    assert refused.status_code == 403
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["accepted"], report["rejected"]) == (1, 1)
    assert report["errors"] == [
        {"line": 3, "field": "dose_no", "reason": "a dose number of this vaccine (1 to 1)"}
    ]
    (audit,) = (
        await db_session.execute(
            select(AuditRecord).where(
                AuditRecord.action == "records.import",
                AuditRecord.target_id == str(report["file_id"]),
            )
        )
    ).scalars()
    assert (audit.actor, audit.target_type) == ("staff-0001", "import_file")
    empty = await client.post(url, content=b"", headers=headers())
    assert empty.status_code == 422


@pytest.mark.parametrize("filename", ["../etc/passwd", "a b.csv"])
async def test_an_odd_filename_is_refused(
    client: httpx.AsyncClient, headers: Headers, filename: str
) -> None:
    response = await client.post(
        "/imports", params={"filename": filename}, content=b"x", headers=headers()
    )
    assert response.status_code == 422
