"""A child's vaccinations from the immunization bridge, in the checkup profile and the
disclosure export; a bridge that is down or does not know the child is a marker, never a 500.
(The real bridge, with identity's service token, is in the cross-service tests.)"""

import httpx
import pytest

from boshi_core.disclosure.pdf import _vaccination_sections
from boshi_core.testsupport import (
    CHECKUP_SCOPES,
    Auth,
    FakeBridge,
    Resident,
    bridge_status,
)

CHILD = "2000000101"


@pytest.mark.usefixtures("programmes")
async def test_the_checkup_profile_shows_the_bridges_statuses(
    client: httpx.AsyncClient, auth: Auth, resident: Resident, fake_bridge: FakeBridge
) -> None:
    await resident(CHILD, "2026-01-31")
    fake_bridge.statuses[CHILD] = bridge_status(CHILD, on="2026-12-02", given_on="2026-07-01")

    response = await client.get(f"/checkups/children/{CHILD}", headers=auth(CHECKUP_SCOPES))

    assert response.status_code == 200, response.text
    vaccinations = response.json()["vaccinations"]
    assert (vaccinations["state"], vaccinations["reason"]) == ("available", None)
    assert [(d["vaccine"], d["status"]) for d in vaccinations["doses"]] == [
        ("bcg", "complete"),
        ("mr", "not_yet_due"),
    ]
    assert vaccinations["records"][0]["given_on"] == "2026-07-01"
    (request,) = fake_bridge.requests
    assert request.url.path == f"/children/{CHILD}/status"
    assert "infant checkups" in request.headers["x-access-purpose"]  # the bridge logs why


@pytest.mark.usefixtures("programmes")
async def test_a_bridge_that_is_down_or_does_not_know_the_child_is_a_marker(
    client: httpx.AsyncClient, auth: Auth, resident: Resident, fake_bridge: FakeBridge
) -> None:
    await resident(CHILD, "2026-01-31")

    unknown = await client.get(f"/checkups/children/{CHILD}", headers=auth(CHECKUP_SCOPES))
    fake_bridge.down = True
    down = await client.get(f"/checkups/children/{CHILD}", headers=auth(CHECKUP_SCOPES))

    assert unknown.status_code == down.status_code == 200
    assert unknown.json()["vaccinations"]["state"] == "not_registered"
    marker = down.json()["vaccinations"]
    assert (marker["state"], marker["doses"]) == ("unavailable", [])
    assert marker["reason"] == "the immunization bridge cannot be reached (ConnectError)"
    assert down.json()["programmes"]  # the rest of the profile is there


async def test_the_disclosure_export_holds_the_vaccinations_json_and_pdf(
    client: httpx.AsyncClient, auth: Auth, resident: Resident, fake_bridge: FakeBridge
) -> None:
    await resident(CHILD, "2026-01-31")
    fake_bridge.statuses[CHILD] = bridge_status(CHILD, on="2026-12-02", given_on="2026-07-01")

    exported = await client.get(f"/people/{CHILD}/disclosure", headers=auth())
    fake_bridge.down = True
    while_down = await client.get(f"/people/{CHILD}/disclosure", headers=auth())
    pdf_while_down = await client.get(f"/people/{CHILD}/disclosure.pdf", headers=auth())

    assert exported.status_code == 200, exported.text
    vaccinations = exported.json()["vaccinations"]
    assert vaccinations["state"] == "available"
    assert vaccinations["records"][0]["record_id"] == "R1"
    assert while_down.status_code == 200
    assert while_down.json()["vaccinations"]["state"] == "unavailable"
    assert pdf_while_down.status_code == 200
    assert pdf_while_down.content.startswith(b"%PDF")


def test_the_pdf_shows_each_dose_or_why_there_is_none() -> None:
    available = bridge_status(CHILD, on="2026-12-02", given_on="2026-07-01")

    shown = _vaccination_sections({"state": "available", **available})
    down = _vaccination_sections({"state": "unavailable", "reason": "timeout"})

    assert [d["vaccine"] for d in shown["vaccination_status"]] == ["bcg", "mr"]
    assert [r["record_id"] for r in shown["vaccination_records"]] == ["R1"]
    assert down["vaccination_status"][0]["state"].startswith("取得できませんでした")
    assert down["vaccination_status"][0]["reason"] == "timeout"
    assert down["vaccination_records"] == []
