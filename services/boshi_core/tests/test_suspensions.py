"""Suspension of use (利用停止): a decision stopping reminders leaves the child out of the next
reminder run, lifting it brings the child back; each change is published."""

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boshi_core.checkups.models import CheckupNotice
from boshi_core.checkups.windows import Period
from boshi_core.reminders.service import run_reminders
from boshi_core.testsupport import ALL_SCOPES, Auth, Resident
from mch_common.events import read_outbox

pytestmark = pytest.mark.usefixtures("programmes")

CHILD = "2300000001"
NEIGHBOUR = "2300000002"
SCOPES = (*ALL_SCOPES, "boshi:requests:read", "boshi:requests:write")


async def _decided_and_fulfilled(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    received = await client.post("/requests", json=body, headers=headers)
    assert received.status_code == 201, received.text
    request_id = received.json()["id"]
    decided = await client.post(
        f"/requests/{request_id}/decision",
        json={"outcome": "full", "decided_on": body["received_on"]},
        headers=headers,
    )
    assert decided.status_code == 200, decided.text
    done = await client.post(f"/requests/{request_id}/fulfilment", headers=headers)
    assert done.status_code == 200, done.text
    result: dict[str, Any] = done.json()
    return result


async def _reminded(db_session: AsyncSession, period: Period) -> set[str]:
    rows = await db_session.execute(
        select(CheckupNotice.person_no).where(
            CheckupNotice.kind == "reminder", CheckupNotice.period == period.first
        )
    )
    return set(rows.scalars())


async def test_suspended_reminders_leave_the_child_out_and_lifting_brings_her_back(
    client: httpx.AsyncClient,
    auth: Auth,
    resident: Resident,
    sessions: async_sessionmaker[AsyncSession],
    db_session: AsyncSession,
    tmp_path: Path,
) -> None:
    headers = auth(SCOPES)
    # Both born mid-April 2026: non-attendees of the 4-month checkup from September on.
    await resident(CHILD, "2026-04-15")
    await resident(NEIGHBOUR, "2026-04-16")
    suspension = {
        "person_no": CHILD,
        "kind": "suspension",
        "requester": {
            "kind": "legal_representative",
            "name": "北九 花子",
            "relationship": "母",
            "id_document": "my_number_card",
            "representation_document": "戸籍謄本",
        },
        "asked": "受診勧奨の通知を止めてほしい",
        "received_on": "2026-08-20",
        "uses": ["reminders"],
    }
    done = await _decided_and_fulfilled(client, headers, suspension)
    assert done["summary"] == {"uses": {"reminders": "suspended"}}

    september = Period.parse("2026-09")
    summary = await run_reminders(sessions, period=september, out_dir=tmp_path / "09")
    assert summary.children == 1
    assert await _reminded(db_session, september) == {NEIGHBOUR}

    lift = {
        **suspension,
        "asked": "通知を再開してほしい",
        "received_on": "2026-09-20",
        "lift": True,
    }
    lifted = await _decided_and_fulfilled(client, headers, lift)
    assert lifted["summary"] == {"uses": {"reminders": "lifted"}}

    october = Period.parse("2026-10")
    again = await run_reminders(sessions, period=october, out_dir=tmp_path / "10")
    assert again.children == 1
    assert await _reminded(db_session, october) == {CHILD}

    published = [
        (e["data"]["use"], e["data"]["suspended"], e["subject"])
        for e in await read_outbox(db_session)
        if e["type"] == "boshi.use_suspension.changed"
    ]
    assert published == [("reminders", True, CHILD), ("reminders", False, CHILD)]
