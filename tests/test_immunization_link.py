"""The immunization bridge with the real stack: a birth registered in atena reaches the
bridge's child register through JetStream; the register's file comes in over REST; boshi_core,
with its own client-credentials token from identity, shows the child's vaccinations in the
checkup profile and the disclosure export, and a bridge that does not answer is a marker, not
a 500; the child's move-out leaves in the register's file, delivered again byte for byte."""

import csv
import io
from datetime import timedelta

import httpx

from atena.testing import person_body
from mch_common.dates import today_tokyo
from mch_testing.embedded import free_port
from mch_testing.waiting import eventually

from .conftest import Stack, bearer

FUKUOKA = "401307"


async def test_a_childs_vaccinations_cross_the_stack_and_its_move_out_goes_to_the_register(
    stack: Stack,
) -> None:
    clerk = bearer(await stack.token("registry01"))
    staff = bearer(await stack.token("kosodate01"))  # city-wide MCH staff
    mother = await stack.atena.post("/persons", json=person_body(), headers=clerk)
    assert mother.status_code == 201, mother.text
    born_on = today_tokyo() - timedelta(days=120)
    born = await stack.atena.post(
        f"/persons/{mother.json()['person_no']}/births",
        json={
            "given_name": "一郎",
            "given_name_kana": "イチロウ",
            "sex": "male",
            "birth_date": born_on.isoformat(),
        },
        headers=clerk,
    )
    assert born.status_code == 201, born.text
    child: str = born.json()["person_no"]

    # atena.person.born reaches the bridge's child register (JetStream, its durable consumer).
    async def status() -> httpx.Response:
        return await stack.bridge.get(f"/children/{child}/status", headers=staff)

    await eventually(
        status, lambda r: r.status_code == 200, within=10.0, what="the child in the bridge"
    )

    # The register's file: BCG given last week (cp932, full-width dose number).
    given_on = today_tokyo() - timedelta(days=7)
    upload = (
        "record_id,action,person_no,vaccine,dose_no,given_on,lot,institution_code\r\n"
        f"E2E-1,追加,{child},bcg,１,{given_on.isoformat()},LOT-9,4010012345\r\n"
    ).encode("cp932")
    imported = await stack.bridge.post(
        "/imports", params={"filename": "e2e.csv"}, content=upload, headers=staff
    )
    assert imported.status_code == 200, imported.text
    assert (imported.json()["accepted"], imported.json()["unknown_people"]) == (1, 0)

    # boshi_core's checkup profile shows the bridge's statuses...
    profile = await stack.boshi.get(f"/checkups/children/{child}", headers=staff)
    assert profile.status_code == 200, profile.text
    vaccinations = profile.json()["vaccinations"]
    assert vaccinations["state"] == "available"
    doses = {(d["vaccine"], d["dose_no"]): d for d in vaccinations["doses"]}
    assert doses[("bcg", 1)]["status"] == "complete"
    assert doses[("bcg", 1)]["given_on"] == given_on.isoformat()
    # ...asked with boshi_core's own token, which identity issued for that scope alone.
    reads = await stack.audit(
        "bridge", action="status.read", target_id=child, actor="svc:boshi_core"
    )
    assert [r.outcome for r in reads] == ["success"]
    assert "infant checkups" in (reads[0].purpose or "")

    # The disclosure export holds them too (JSON and PDF).
    disclosure = await stack.boshi.get(f"/people/{child}/disclosure", headers=staff)
    assert disclosure.status_code == 200, disclosure.text
    assert disclosure.json()["vaccinations"]["records"][0]["record_id"] == "E2E-1"
    pdf = await stack.boshi.get(f"/people/{child}/disclosure.pdf", headers=staff)
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")

    # A bridge that does not answer (nothing listens on its port): a marker, not a 500.
    bridge_http = stack.boshi_app.state.immunization.client
    real_url = bridge_http.base_url
    bridge_http.base_url = f"http://127.0.0.1:{free_port()}"
    try:
        down = await stack.boshi.get(f"/checkups/children/{child}", headers=staff)
        down_disclosure = await stack.boshi.get(f"/people/{child}/disclosure", headers=staff)
    finally:
        bridge_http.base_url = real_url
    assert down.status_code == down_disclosure.status_code == 200
    assert down.json()["vaccinations"]["state"] == "unavailable"
    assert down_disclosure.json()["vaccinations"]["state"] == "unavailable"
    assert down.json()["programmes"]

    # The child moves out: the bridge learns it from atena and the register gets it in a file.
    moved = await stack.atena.post(
        f"/persons/{child}/move-out",
        json={
            "effective_date": today_tokyo().isoformat(),
            "destination_municipality_code": FUKUOKA,
        },
        headers=clerk,
    )
    assert moved.status_code == 200, moved.text

    async def residence() -> str:
        return str((await status()).json()["residence_status"])

    await eventually(residence, lambda r: r == "moved_out", within=10.0, what="the move-out")
    built = await stack.bridge.post("/register-files", headers=staff)
    assert built.status_code == 201, built.text
    run = built.json()
    first = await stack.bridge.get(f"/register-files/{run['id']}/content", headers=staff)
    again = await stack.bridge.get(f"/register-files/{run['id']}/content", headers=staff)
    assert first.status_code == again.status_code == 200
    assert first.content == again.content  # a lost file, delivered again byte for byte
    rows = list(csv.DictReader(io.StringIO(first.content.decode("cp932"), newline="")))
    mine = [(r["change"], r["other_municipality_code"]) for r in rows if r["person_no"] == child]
    assert mine == [("born", ""), ("moved_out", FUKUOKA)]
    # Nothing twice: the next file does not name the child again.
    rerun = await stack.bridge.post("/register-files", headers=staff)
    rerun_file = await stack.bridge.get(
        f"/register-files/{rerun.json()['id']}/content", headers=staff
    )
    assert child not in rerun_file.content.decode("cp932")
