"""Staff review: limited to the procedure's department and, for ward staff, their ward;
extraction by conditions, paged; opening is access-logged; the result notice arrives by SMTP
without the My Number or the form; deletion after retention removes the data and keeps the log."""

import asyncio
import socket
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from e_application.applications.models import (
    Application,
    ApplicationHistory,
    ApplicationMyNumber,
    ApplicationVersion,
)
from e_application.deps import APPLICATION_READ, APPLICATION_REVIEW, RETENTION_DELETE
from e_application.notices.sender import NOTICES, send_pending
from e_application.procedures.definitions import LOW_BIRTH_WEIGHT
from mch_common.audit import AuditRecord
from mch_common.dates import today_tokyo
from mch_common.jobs import PeriodicJob, cancelled
from mch_testing.app import client_in
from mch_testing.waiting import eventually

from .conftest import KOKURAKITA, YAHATANISHI, Applicant, Headers, MakeApplicant, submit


def lbw_form(applicant: Applicant, **changes: Any) -> dict[str, Any]:
    facts = applicant.card.facts
    born = today_tokyo() - timedelta(days=10)
    form = {
        "infant_sex": "male",
        "infant_birth_date": born.isoformat(),
        "infant_birth_time": "03:25",
        "birth_place": "北九州市立医療センター",
        "birth_weight_g": 2140,
        "weeks_of_gestation": 35,
        "infant_address": facts.address,
        "mother_name": facts.name,
        "guardian_name": facts.name,
        "guardian_birth_date": facts.birth_date.isoformat(),
        "guardian_sex": facts.sex,
        "guardian_address": facts.address,
        "contact_phone": "093-111-2222",
        "contact_email": "guardian@example.jp",
        "application_date": today_tokyo().isoformat(),
        "ward_code": KOKURAKITA,
    }
    return form | changes


async def submit_lbw(
    client: httpx.AsyncClient, applicant: Applicant, **changes: Any
) -> dict[str, Any]:
    package = applicant.card.sign_application(
        procedure=LOW_BIRTH_WEIGHT, procedure_version=1, form=lbw_form(applicant, **changes)
    )
    answer = await submit(client, package)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def test_the_second_procedure_uses_the_same_engine(
    client: httpx.AsyncClient, make_applicant: MakeApplicant
) -> None:
    applicant = make_applicant()
    receipt = await submit_lbw(client, applicant)
    heavy = applicant.card.sign_application(
        procedure=LOW_BIRTH_WEIGHT,
        procedure_version=1,
        form=lbw_form(applicant, birth_weight_g=3100),
    )
    with_my_number = applicant.card.sign_application(
        procedure=LOW_BIRTH_WEIGHT,
        procedure_version=1,
        form=lbw_form(applicant),
        my_number=applicant.my_number,
    )

    refused_weight = await submit(client, heavy)
    refused_my_number = await submit(client, with_my_number)

    assert receipt["procedure"] == LOW_BIRTH_WEIGHT
    assert refused_weight.status_code == 422
    assert refused_weight.json()["errors"][0]["loc"] == ["form", "birth_weight_g"]
    assert "does not collect a My Number" in refused_my_number.text


async def test_extraction_by_department_ward_and_conditions_paged(
    client: httpx.AsyncClient, make_applicant: MakeApplicant, headers: Headers
) -> None:
    kokurakita = [await submit_lbw(client, make_applicant()) for _ in range(3)]
    yahatanishi = await submit_lbw(client, make_applicant(), ward_code=YAHATANISHI)
    pregnancy = await submit(client, make_applicant().package())
    assert pregnancy.status_code == 201

    city = headers(APPLICATION_READ)
    first = await client.get(
        "/applications", params={"procedure": LOW_BIRTH_WEIGHT, "limit": 2}, headers=city
    )
    second = await client.get(
        "/applications",
        params={"procedure": LOW_BIRTH_WEIGHT, "limit": 2, "after": first.json()["next_after"]},
        headers=city,
    )
    ward = await client.get(
        "/applications",
        headers=headers(APPLICATION_READ, ward=YAHATANISHI, dept="八幡西区保健福祉課"),
    )
    other_department = await client.get(
        "/applications", headers=headers(APPLICATION_READ, dept="監査課")
    )
    by_status = await client.get("/applications", params={"status": "accepted"}, headers=city)

    assert first.status_code == 200, first.text
    page = [a["receipt_no"] for a in first.json()["items"] + second.json()["items"]]
    assert page == [r["receipt_no"] for r in [*kokurakita, yahatanishi]]
    assert second.json()["next_after"] is None
    assert [a["receipt_no"] for a in ward.json()["items"]] == [yahatanishi["receipt_no"]]
    assert other_department.json()["items"] == []
    assert by_status.json()["items"] == []


async def test_another_department_or_ward_cannot_see_it_and_the_refusal_is_logged(
    client: httpx.AsyncClient,
    make_applicant: MakeApplicant,
    headers: Headers,
) -> None:
    receipt = await submit_lbw(client, make_applicant())
    url = f"/applications/{receipt['application_id']}"

    other_department = await client.get(url, headers=headers(APPLICATION_READ, dept="監査課"))
    other_ward = await client.get(
        url, headers=headers(APPLICATION_READ, ward=YAHATANISHI, dept="八幡西区保健福祉課")
    )
    own_ward = await client.get(
        url, headers=headers(APPLICATION_READ, ward=KOKURAKITA, dept="小倉北区保健福祉課")
    )

    assert other_department.status_code == 404
    assert other_ward.status_code == 404
    assert other_department.json()["detail"] == other_ward.json()["detail"]
    assert own_ward.status_code == 200, own_ward.text
    assert own_ward.json()["versions"][0]["form"]["birth_weight_g"] == 2140


async def test_opening_is_access_logged(
    client: httpx.AsyncClient,
    make_applicant: MakeApplicant,
    headers: Headers,
    db_session: AsyncSession,
) -> None:
    receipt = await submit_lbw(client, make_applicant())

    opened = await client.get(
        f"/applications/{receipt['application_id']}", headers=headers(sub="reviewer-07")
    )

    assert opened.status_code == 200
    actions = (
        await db_session.execute(
            select(AuditRecord.actor, AuditRecord.action)
            .where(AuditRecord.target_id == receipt["application_id"])
            .order_by(AuditRecord.seq)
        )
    ).all()
    assert ("reviewer-07", "application.open") in [tuple(a) for a in actions]


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[_Inbox, int]]:
    inbox = _Inbox()
    with socket.socket() as probe:  # a free port: the controller checks its own with a connect
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


async def test_the_result_email_reaches_the_smtp_server_without_my_number_or_form(
    client: httpx.AsyncClient,
    make_applicant: MakeApplicant,
    headers: Headers,
    sessions: async_sessionmaker[AsyncSession],
    smtp: tuple[_Inbox, int],
) -> None:
    inbox, port = smtp
    applicant = make_applicant()
    receipt = await submit_lbw(client, applicant)
    accepted = await client.post(
        f"/applications/{receipt['application_id']}/accept",
        headers=headers(APPLICATION_READ, APPLICATION_REVIEW),
    )
    assert accepted.status_code == 200, accepted.text

    sent = await send_pending(sessions, host="127.0.0.1", port=port, sender="eapp@example.jp")
    again = await send_pending(sessions, host="127.0.0.1", port=port, sender="eapp@example.jp")

    assert (sent, again) == (1, 0)
    [(_sender, to, content)] = inbox.messages
    assert to == ["guardian@example.jp"]
    message: Message = message_from_bytes(content)
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    text_ = body.decode()
    assert receipt["receipt_no"] in text_
    assert "受理" in text_
    for secret in (
        applicant.my_number,
        applicant.card.facts.name,
        "2140",
        "北九州市立医療センター",
    ):
        assert secret not in text_
        assert secret.encode() not in content


async def test_deletion_after_retention_removes_the_data_and_keeps_the_log(
    client: httpx.AsyncClient,
    make_applicant: MakeApplicant,
    headers: Headers,
    db_session: AsyncSession,
) -> None:
    applicant = make_applicant()
    answer = await submit(client, applicant.package())
    receipt = answer.json()
    kept = await submit_lbw(client, make_applicant())
    staff = headers(APPLICATION_READ, RETENTION_DELETE)
    too_early = await client.delete(f"/applications/{receipt['application_id']}", headers=staff)
    # Five years on: the retention period (data: procedures.retention_years) has passed.
    await db_session.execute(
        update(Application)
        .where(Application.receipt_no == receipt["receipt_no"])
        .values(retain_until=today_tokyo() - timedelta(days=1))
    )

    due = await client.get("/retention/due", headers=staff)
    deleted = await client.delete(f"/applications/{receipt['application_id']}", headers=staff)

    assert too_early.status_code == 409
    assert "kept until" in too_early.json()["detail"]
    assert [a["receipt_no"] for a in due.json()] == [receipt["receipt_no"]]
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["status"] == "deleted"
    for model, left in ((ApplicationVersion, 1), (ApplicationMyNumber, 0)):
        rows = await db_session.execute(select(func.count()).select_from(model))
        assert rows.scalar_one() == left  # the other (low birth weight) application's only
    mine = await db_session.execute(
        text("SELECT count(*) FROM application_my_numbers WHERE application_id = :id"),
        {"id": receipt["application_id"]},
    )
    assert mine.scalar_one() == 0
    history = (
        await db_session.execute(
            select(ApplicationHistory.action)
            .where(ApplicationHistory.application_id == receipt["application_id"])
            .order_by(ApplicationHistory.id)
        )
    ).scalars()
    assert list(history) == ["submitted", "deleted"]
    log = (
        await db_session.execute(
            select(AuditRecord.action).where(AuditRecord.target_id == receipt["application_id"])
        )
    ).scalars()
    assert {"application.submit", "application.delete"} <= set(log)
    opened = await client.get(f"/applications/{receipt['application_id']}", headers=staff)
    assert opened.status_code == 404
    assert kept["receipt_no"] != receipt["receipt_no"]
    await asyncio.sleep(0)


async def test_the_result_email_goes_out_as_soon_as_the_decision_commits(
    app: FastAPI,
    committed_sessions: async_sessionmaker[AsyncSession],
    make_applicant: MakeApplicant,
    headers: Headers,
    smtp: tuple[_Inbox, int],
) -> None:
    """The sender runs once an hour here: the acceptance's commit wakes it (mch_common.jobs)."""
    inbox, port = smtp
    sender = PeriodicJob(
        NOTICES,
        lambda: send_pending(
            committed_sessions, host="127.0.0.1", port=port, sender="eapp@example.jp"
        ),
        every=3600,
        wait_first=True,
    )
    task = asyncio.create_task(sender.run_forever())
    try:
        async with client_in(app, committed_sessions) as client:
            receipt = await submit_lbw(client, make_applicant())
            accepted = await client.post(
                f"/applications/{receipt['application_id']}/accept",
                headers=headers(APPLICATION_READ, APPLICATION_REVIEW),
            )
            assert accepted.status_code == 200, accepted.text

        async def received() -> int:
            return len(inbox.messages)

        await eventually(received, bool, within=10, what="the result e-mail")
    finally:
        await cancelled(task)
    [(_sender, to, _content)] = inbox.messages
    assert to == ["guardian@example.jp"]
