"""Retention and disposal (III-7): records past their period (rules as versioned data) are
listed and disposed of by staff; the data goes, the access log and a disposal record stay."""

import asyncio
import json
import os
import sys
from datetime import UTC, date, datetime
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.inquiries.models import Inquiry
from boshi_core.pregnancy.models import Handbook, Pregnancy, PrenatalVoucher
from boshi_core.retention.models import Disposal, RetentionRule
from boshi_core.testsupport import ALL_SCOPES, KOKURA_NORTH, Auth, Register, notification
from mch_common.audit import AuditRecord, about_person

MOTHER = "1000000010"
OTHER = "1000000028"
SCOPES = (*ALL_SCOPES, "boshi:retention:admin")


async def _closed_pregnancy(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    db_session: AsyncSession,
    person_no: str,
    outcome_date: date,
) -> str:
    created = await client.post("/pregnancies", json=notification(person_no), headers=headers)
    assert created.status_code == 201, created.text
    pregnancy_id: str = created.json()["id"]
    issued = await client.post(
        f"/pregnancies/{pregnancy_id}/handbooks", json={"ward_code": KOKURA_NORTH}, headers=headers
    )
    assert issued.status_code == 201, issued.text
    # Closed long ago: the record as it stands years after its outcome.
    await db_session.execute(
        update(Pregnancy)
        .where(Pregnancy.id == pregnancy_id)
        .values(status="closed", outcome="miscarriage", outcome_date=outcome_date)
    )
    await db_session.commit()
    return pregnancy_id


async def _monthly_list(database_url: str) -> dict[str, Any]:
    """`python -m boshi_core.cli retention-due`, as the monthly CronJob runs it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "boshi_core.cli",
        "retention-due",
        env=os.environ | {"BOSHI_DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert "retention-due pregnancy:" in err.decode()  # progress on stderr
    result: dict[str, Any] = json.loads(out)
    return result


async def test_disposal_removes_records_past_retention_and_keeps_the_log(
    client: httpx.AsyncClient,
    auth: Auth,
    register: Register,
    db_session: AsyncSession,
) -> None:
    headers = auth(SCOPES, sub="staff-retention")
    await register(MOTHER)
    await register(OTHER)
    rule = (
        await db_session.execute(
            select(RetentionRule).where(RetentionRule.record_type == "pregnancy")
        )
    ).scalar_one()
    assert (rule.years, rule.to_confirm) == (5, True)  # seeded, for the city to confirm
    old = await _closed_pregnancy(client, headers, db_session, MOTHER, date(2020, 5, 1))
    recent = await _closed_pregnancy(client, headers, db_session, OTHER, date(2024, 1, 10))

    due = await client.get("/retention/due", params={"record_type": "pregnancy"}, headers=headers)
    assert due.status_code == 200, due.text
    assert [(i["record_id"], i["person_no"], i["due_on"]) for i in due.json()["items"]] == [
        (old, MOTHER, "2025-05-01")
    ]
    # Not yet due: refused, and nothing is deleted.
    early = await client.post(
        "/retention/disposals",
        json={"record_type": "pregnancy", "record_ids": [old, recent], "reason": "保存期間満了"},
        headers=headers,
    )
    assert early.status_code == 422, early.text
    assert await db_session.get(Pregnancy, old) is not None

    disposed = await client.post(
        "/retention/disposals",
        json={"record_type": "pregnancy", "record_ids": [old], "reason": "保存期間満了"},
        headers=headers,
    )
    assert disposed.status_code == 201, disposed.text
    assert [(d["record_id"], d["person_no"], d["rule_version"]) for d in disposed.json()] == [
        (old, MOTHER, 1)
    ]
    db_session.expire_all()
    assert await db_session.get(Pregnancy, old) is None
    for model in (Handbook, PrenatalVoucher):
        count = select(func.count()).select_from(model).where(model.pregnancy_id == old)
        assert await db_session.scalar(count) == 0
    assert await db_session.get(Pregnancy, recent) is not None
    # The access log keeps every record about her, the disposal among them; and a disposal row.
    actions = (
        await db_session.execute(
            select(AuditRecord.action).where(about_person(MOTHER)).order_by(AuditRecord.seq)
        )
    ).scalars()
    kept = list(actions)
    assert {"pregnancy.open", "handbook.issue", "record.dispose"} <= set(kept)
    disposal = (
        await db_session.execute(select(Disposal).where(Disposal.record_id == old))
    ).scalar_one()
    assert (disposal.disposed_by, disposal.reason) == ("staff-retention", "保存期間満了")
    again = await client.get("/retention/due", params={"record_type": "pregnancy"}, headers=headers)
    assert again.json()["items"] == []


async def test_the_monthly_list_runs_as_a_job(database_url: str) -> None:
    """The CronJob's command: every record type, the job named in the access log."""
    monthly = await _monthly_list(database_url)
    assert monthly["command"] == "retention-due"
    assert set(monthly["due"]) == {"pregnancy", "infant_checkup_result", "inquiry"}
    assert all(isinstance(items, list) for items in monthly["due"].values())


async def test_an_answered_inquiry_is_disposed_of_after_its_period(
    client: httpx.AsyncClient, auth: Auth, db_session: AsyncSession
) -> None:
    headers = auth(SCOPES, sub="staff-retention")
    answered = datetime(2021, 3, 1, 10, tzinfo=UTC)
    old = Inquiry(
        channel="phone",
        question="健診の通知について",
        person_no=None,
        received_at=answered,
        received_by="staff-0001",
        answer="回答済み",
        answered_by="staff-0001",
        answered_at=answered,
    )
    pending = Inquiry(
        channel="window",
        question="まだ回答していない問合せ",
        received_at=answered,
        received_by="staff-0001",
    )
    db_session.add_all([old, pending])
    await db_session.flush()
    old_id, pending_id = old.id, pending.id
    await db_session.commit()
    due = await client.get("/retention/due", params={"record_type": "inquiry"}, headers=headers)
    assert [(i["record_id"], i["due_on"]) for i in due.json()["items"]] == [
        (str(old_id), "2024-03-01")
    ]
    disposed = await client.post(
        "/retention/disposals",
        json={"record_type": "inquiry", "record_ids": [str(old_id)], "reason": "保存期間満了"},
        headers=headers,
    )
    assert disposed.status_code == 201, disposed.text
    db_session.expire_all()
    assert await db_session.get(Inquiry, old_id) is None
    assert await db_session.get(Inquiry, pending_id) is not None  # unanswered: kept
