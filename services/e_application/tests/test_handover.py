"""The hand-over, end to end on real services: atena (over HTTP, its own database) registers
the applicant and tells boshi_core (its own database, its consumer on JetStream); e_application
accepts the signed notification, resolving the person through atena's scoped My Number lookup
with its own service token; boshi_core pulls the export and opens the pregnancy through the
window path's function, exactly once: also when it was down at acceptance, when it pulls twice,
when it crashed between opening and confirming, and when the person had not reached it yet (the
notification held, left in the export, and opened by a later pull)."""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import atena
from atena.config import Settings as AtenaSettings
from atena.main import create_app as create_atena
from atena.testing import person_body
from boshi_core.config import Settings as BoshiSettings
from boshi_core.main import create_app as create_boshi
from boshi_core.migrate import MIGRATIONS as BOSHI_MIGRATIONS
from boshi_core.online.client import EappClient
from boshi_core.online.service import PullReport, _as_printed, _open, pull_online_notifications
from boshi_core.people.models import Person
from boshi_core.pregnancy.models import Pregnancy
from e_application.config import Settings
from e_application.deps import APPLICATION_READ, APPLICATION_REVIEW, EXPORT_PULL
from e_application.handover.atena import AtenaClient
from e_application.jpki.applicant import Card
from e_application.jpki.authority import Authority
from e_application.jpki.profile import HolderFacts
from e_application.main import create_app
from mch_common.auth.principal import Principal
from mch_common.auth.verifier import service_subject
from mch_common.mynumber import contains_my_number, generate_my_number
from mch_testing.app import serve_over_http
from mch_testing.keys import TestKeySet
from mch_testing.plugin import DatabaseFactory

from .conftest import Applicant, submit

TENANT = "401005"


@dataclass
class Services:
    eapp: httpx.AsyncClient
    atena: httpx.AsyncClient
    boshi: FastAPI  # started by the test (it may be "down" at first)
    boshi_settings: BoshiSettings
    keys: TestKeySet

    def staff(self, *scopes: str, **claims: Any) -> dict[str, str]:
        token = self.keys.mint(scopes=scopes, roles=("e2e",), **claims)
        return {"Authorization": f"Bearer {token}"}

    def export_client(self) -> EappClient:
        token = self.keys.mint(
            sub=service_subject("boshi_core"), scopes=(EXPORT_PULL,), terminal=None, dept=None
        )
        return EappClient(
            httpx.AsyncClient(
                transport=self.eapp._transport,  # the same in-process e_application
                base_url="http://eapp",
                headers={"Authorization": f"Bearer {token}"},
            )
        )

    async def register(self, applicant: Applicant) -> str:
        facts = applicant.card.facts
        family, given = facts.name.split(" ", 1)
        body = person_body(
            family_name=family,
            given_name=given,
            birth_date=facts.birth_date.isoformat(),
            my_number=applicant.my_number,
        )
        answer = await self.atena.post(
            "/persons", json=body, headers=self.staff("atena:person:write", ward=None)
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["person_no"])

    @contextlib.asynccontextmanager
    async def accepted_with_boshi_up(
        self, applicant: Applicant
    ) -> AsyncIterator[tuple[str, dict[str, Any], EappClient]]:
        """Her person registered at atena, her notification submitted and accepted while
        boshi_core is down, then boshi_core started and her person arrived there: (person
        number, the acceptance, an export client of boshi_core's)."""
        person_no = await self.register(applicant)
        accepted = await self.submit_and_accept(applicant)
        async with self.boshi.router.lifespan_context(self.boshi):
            await _person_reached_boshi(self.boshi, person_no)
            export = self.export_client()
            try:
                yield person_no, accepted, export
            finally:
                await export.client.aclose()

    async def submit_and_accept(self, applicant: Applicant) -> dict[str, Any]:
        receipt = await submit(self.eapp, applicant.package())
        assert receipt.status_code == 201, receipt.text
        accepted = await self.eapp.post(
            f"/applications/{receipt.json()['application_id']}/accept",
            headers=self.staff(APPLICATION_READ, APPLICATION_REVIEW, dept="子育て支援課"),
        )
        assert accepted.status_code == 200, accepted.text
        return dict(accepted.json())


@pytest.fixture
async def services(
    database_factory: DatabaseFactory,
    test_database_name: str,
    service_settings: dict[str, Any],
    settings: Settings,
    jwt_keys: TestKeySet,
    committed_sessions: async_sessionmaker[AsyncSession],  # empties what this test committed
) -> AsyncIterator[Services]:
    del committed_sessions
    common = {k: v for k, v in service_settings.items() if k != "database_url"}
    suffix = f"{time.monotonic_ns() % 10**6}"
    atena_db = await database_factory.create(
        f"{test_database_name}_atena{suffix}", Path(atena.__file__).parent / "migrations"
    )
    boshi_db = await database_factory.create(
        f"{test_database_name}_boshi{suffix}", BOSHI_MIGRATIONS
    )
    eapp_app = create_app(settings)
    lookup_token = jwt_keys.mint(
        sub=service_subject("e_application"),
        scopes=("atena:mynumber:lookup",),
        terminal=None,
        dept=None,
        exp_in=3600,
    )
    async with (
        serve_over_http(create_atena(AtenaSettings(**common, database_url=atena_db))) as atena_url,
        httpx.AsyncClient(
            base_url=atena_url, headers={"Authorization": f"Bearer {lookup_token}"}
        ) as lookup,
        httpx.AsyncClient(base_url=atena_url) as atena_http,
    ):
        eapp_app.state.atena = AtenaClient(lookup)  # e_application's own token for atena
        async with (
            eapp_app.router.lifespan_context(eapp_app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=eapp_app), base_url="http://eapp"
            ) as eapp,
        ):
            boshi_settings = BoshiSettings(**common, database_url=boshi_db)
            yield Services(
                eapp=eapp,
                atena=atena_http,
                boshi=create_boshi(boshi_settings),
                boshi_settings=boshi_settings,
                keys=jwt_keys,
            )


def applicant_card(jpki: Authority) -> Applicant:
    facts = HolderFacts(
        name="北九 花子",
        sex="female",
        birth_date=date(1994, 5, 10),
        address="福岡県北九州市小倉北区浅野1-1",
    )
    return Applicant(Card.issue(jpki, facts), generate_my_number())


async def _person_reached_boshi(boshi: FastAPI, person_no: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        async with boshi.state.sessions() as session:
            if await session.get(Person, person_no) is not None:
                return
        await asyncio.sleep(0.1)
    raise AssertionError("atena's registration did not reach boshi_core")


async def _pull(boshi: FastAPI, export: EappClient) -> PullReport:
    return await pull_online_notifications(boshi.state.sessions, export, tenant=TENANT)


async def _pregnancies(boshi: FastAPI, receipt_no: str) -> list[Pregnancy]:
    async with boshi.state.sessions() as session:
        rows = await session.execute(select(Pregnancy).where(Pregnancy.external_ref == receipt_no))
        return list(rows.scalars())


async def test_an_accepted_notification_opens_one_pregnancy_though_boshi_was_down(
    services: Services, jpki: Authority
) -> None:
    applicant = applicant_card(jpki)
    # boshi_core is down while the application is accepted.
    async with services.accepted_with_boshi_up(applicant) as (person_no, accepted, export):
        first = await _pull(services.boshi, export)
        second = await _pull(services.boshi, export)
        pregnancies = await _pregnancies(services.boshi, accepted["receipt_no"])

    assert accepted["status"] == "accepted"
    assert accepted["person_no"] == person_no
    # The pulls' reports first: when the pregnancy is missing, they say why.
    assert first.opened == [accepted["receipt_no"]], first.held
    assert (second.opened, second.already_open, second.held) == ([], [], {}), second.held
    [pregnancy] = pregnancies
    assert pregnancy.person_no == person_no
    assert pregnancy.channel == "online"
    assert pregnancy.id_document_type == "jpki_signature"
    assert pregnancy.weeks_at_notification == 9
    assert pregnancy.name == "北九 花子"


def applicant_whose_serial_looks_like_a_my_number(jpki: Authority) -> Applicant:
    """About one signing certificate in 115: its serial in hex, as the export names it, holds
    12 decimal digits in a row that pass the My Number check digit."""
    for _ in range(5000):
        applicant = applicant_card(jpki)
        if contains_my_number(format(applicant.card.signing.serial, "x")):
            return applicant
    raise AssertionError("no certificate serial looked like a My Number in 5,000")


def test_a_certificate_serial_is_written_in_whole_bytes_with_colons() -> None:
    assert _as_printed("123456789018") == "12:34:56:78:90:18"  # a valid check digit
    assert not contains_my_number(_as_printed("123456789018"))
    assert _as_printed("abc") == "0a:bc"  # an odd number of hex digits: the leading zero


async def test_a_notification_whose_certificate_serial_looks_like_a_my_number_is_opened(
    services: Services, jpki: Authority
) -> None:
    # boshi_core records who checked the applicant's identity as the certificate that signed:
    # written as it came (hex), such a serial made the identity check refuse itself as a My
    # Number in free text, and the notification was held at every pull.
    applicant = applicant_whose_serial_looks_like_a_my_number(jpki)
    async with services.accepted_with_boshi_up(applicant) as (_, accepted, export):
        report = await _pull(services.boshi, export)
        pregnancies = await _pregnancies(services.boshi, accepted["receipt_no"])

    assert report.opened == [accepted["receipt_no"]], report.held
    [pregnancy] = pregnancies
    serial = format(applicant.card.signing.serial, "x")
    serial = serial.zfill(len(serial) + len(serial) % 2)  # whole bytes
    written = pregnancy.id_checked_by.split("#", 1)[1].replace(":", "")
    assert serial.startswith(written)  # the serial, colon-separated (the column holds 100)
    assert len(written) >= 16
    assert not contains_my_number(pregnancy.id_checked_by)


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_a_notification_whose_person_has_not_arrived_is_held_then_opened(
    services: Services, jpki: Authority
) -> None:
    applicant = applicant_card(jpki)
    person_no = await services.register(applicant)
    accepted = await services.submit_and_accept(applicant)
    export = services.export_client()
    # boshi_core without its consumer: atena's registration has not reached it.
    behind = create_boshi(services.boshi_settings, with_consumers=False)
    kept = _Kept()
    async with behind.router.lifespan_context(behind):
        logging.getLogger("boshi_core.online").addHandler(kept)  # after the app set logging up
        try:
            held = await _pull(behind, export)
        finally:
            logging.getLogger("boshi_core.online").removeHandler(kept)
    still_waiting = await export.accepted()
    async with services.boshi.router.lifespan_context(services.boshi):
        await _person_reached_boshi(services.boshi, person_no)
        opened = await _pull(services.boshi, export)
        [pregnancy] = await _pregnancies(services.boshi, accepted["receipt_no"])
    await export.client.aclose()

    receipt_no = accepted["receipt_no"]
    assert (held.opened, held.already_open) == ([], [])
    assert "not registered in atena" in held.held[receipt_no]
    assert [item["receipt_no"] for item in still_waiting] == [receipt_no]  # not confirmed
    [line] = kept.records
    fields = getattr(line, "fields", None)
    assert line.getMessage() == "online notification held"
    assert fields == {"receipt_no": receipt_no, "reason": held.held[receipt_no]}
    assert applicant.my_number not in f"{line.getMessage()} {fields}"
    assert opened.opened == [receipt_no], opened.held
    assert pregnancy.person_no == person_no


async def test_pulled_again_after_a_crash_before_confirming_still_opens_one(
    services: Services, jpki: Authority
) -> None:
    applicant = applicant_card(jpki)
    async with services.accepted_with_boshi_up(applicant) as (_, accepted, export):
        [item] = await export.accepted()
        assert "my_number" not in item
        assert applicant.my_number not in str(item)
        principal = Principal(
            sub=service_subject("boshi_core"), tenant=TENANT, scopes=frozenset(), is_service=True
        )
        # Opened, then boshi_core stopped before telling e_application.
        assert await _open(services.boshi.state.sessions, principal, item)
        again = await _pull(services.boshi, export)
        left = await export.accepted()
        count = await _pregnancies(services.boshi, accepted["receipt_no"])

    assert again.already_open == [accepted["receipt_no"]]
    assert again.opened == []
    assert left == []
    assert len(count) == 1


async def test_the_disclosure_export_gathers_her_applications_and_accesses(
    services: Services, jpki: Authority
) -> None:
    applicant = applicant_card(jpki)
    person_no = await services.register(applicant)
    accepted = await services.submit_and_accept(applicant)
    exporter = services.staff("eapp:disclosure:export")

    as_json = await services.eapp.get(f"/persons/{person_no}/disclosure", headers=exporter)
    as_pdf = await services.eapp.get(
        f"/persons/{person_no}/disclosure", params={"format": "pdf"}, headers=exporter
    )
    nobody = await services.eapp.get("/persons/1000000009/disclosure", headers=exporter)

    assert as_json.status_code == 200, as_json.text
    export = as_json.json()
    [application] = export["applications"]
    assert application["receipt_no"] == accepted["receipt_no"]
    assert application["my_number"] == "registered"  # never decrypted for an export
    assert application["versions"][0]["form"]["weeks_of_pregnancy"] == 9
    assert "application.accept" in {r["action"] for r in export["access_log"]}
    # The platform's one shape (mch_common.disclosure), which boshi_core merges.
    accept = next(r for r in export["access_log"] if r["action"] == "application.accept")
    assert set(accept) == set(access_entry_keys())
    assert accept["record_type"] == "application"
    assert accept["outcome"] == "success"
    assert applicant.my_number not in as_json.text
    assert as_pdf.headers["content-type"] == "application/pdf"
    assert applicant.my_number.encode() not in as_pdf.content
    assert nobody.status_code == 404


def access_entry_keys() -> list[str]:
    return [
        "seq",
        "occurred_at",
        "actor",
        "department",
        "ward",
        "roles",
        "terminal",
        "action",
        "record_type",
        "purpose",
        "outcome",
        "reason",
    ]
