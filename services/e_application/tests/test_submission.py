"""Submission: a valid signed application is verified, stored with every check's outcome, the
package byte for byte (sealed) and the My Number encrypted apart; everything refused is refused
with a reason the applicant can act on, and nothing is stored."""

import json
import logging
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from e_application.applications.models import (
    Application,
    ApplicationMyNumber,
    ApplicationVersion,
)
from e_application.applications.service import my_number_of, unseal_package
from e_application.config import Settings
from e_application.deps import intake_of
from e_application.jpki.authority import Authority
from e_application.jpki.profile import HolderFacts
from e_application.procedures.definitions import PREGNANCY
from e_application.procedures.models import Procedure
from mch_common.dates import today_tokyo
from mch_common.events import read_outbox

from .conftest import Headers, MakeApplicant, submit


async def _stored(db_session: AsyncSession) -> tuple[int, int, int]:
    counts = []
    for model in (Application, ApplicationVersion, ApplicationMyNumber):
        counts.append(
            (await db_session.execute(select(func.count()).select_from(model))).scalar_one()
        )
    return counts[0], counts[1], counts[2]


async def test_a_valid_application_is_stored_with_its_checks_and_sealed_package(
    client: httpx.AsyncClient,
    make_applicant: MakeApplicant,
    db_session: AsyncSession,
    settings: Settings,
) -> None:
    applicant = make_applicant()
    package = applicant.package()

    answer = await submit(client, package)

    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["receipt_no"].startswith("EA")
    assert body["channel"] == "city_form"
    assert "母子保健法第15条" in body["purpose"]
    assert {c["check"]: c["ok"] for c in body["checks"]} == {
        "signature": True,
        "signing_time": True,
        "certificate_kind": True,
        "chain": True,
        "validity": True,
        "revocation": True,
        "form": True,
        "identity": True,
    }
    version = (await db_session.execute(select(ApplicationVersion))).scalar_one()
    intake = intake_of(settings)
    assert unseal_package(intake, version) == package  # byte for byte
    assert applicant.my_number.encode() not in version.package_sealed
    assert "my_number" not in version.form
    assert (
        await my_number_of(db_session, intake=intake, application_id=version.application_id)
        == applicant.my_number
    )
    raw = (
        await db_session.execute(text("SELECT ciphertext FROM application_my_numbers"))
    ).scalar_one()
    assert applicant.my_number.encode() not in raw
    assert applicant.my_number not in answer.text


async def test_the_portal_channel_is_verified_the_same_and_recorded(
    client: httpx.AsyncClient,
    make_applicant: MakeApplicant,
    headers: Headers,
    db_session: AsyncSession,
) -> None:
    applicant = make_applicant()
    portal = headers("eapp:portal:deliver", sub="svc:pittari_portal", dept=None)

    answer = await client.post(
        "/portal/packages",
        content=applicant.package(),
        headers={**portal, "content-type": "application/json"},
    )
    tampered = applicant.package().replace(b'"format"', b'"format" ', 1)

    assert answer.status_code == 201, answer.text
    assert answer.json()["channel"] == "portal"
    assert (await client.post("/portal/packages", content=tampered)).status_code == 401


async def test_a_private_ca_signing_certificate_is_trusted(
    client: httpx.AsyncClient, make_applicant: MakeApplicant, private_ca: Authority
) -> None:
    answer = await submit(client, make_applicant(private_ca).package())

    assert answer.status_code == 201, answer.text
    assert "Private CA" in {c["check"]: c["detail"] for c in answer.json()["checks"]}["chain"]


def _tamper(package: bytes) -> bytes:
    import base64

    body = json.loads(package)
    document = json.loads(base64.b64decode(body["document"]))
    document["form"]["weeks_of_pregnancy"] = 20
    from e_application.signing.canonical import canonical_json

    body["document"] = base64.b64encode(canonical_json(document)).decode()
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("case", "check", "says"),
    [
        ("tampered form", "signature", "changed after signing"),
        ("wrong key", "signature", "signed with another key"),
        ("expired certificate", "validity", "expired"),
        ("revoked certificate", "revocation", "revoked"),
        (
            "another CA",
            "chain",
            "not issued by a signing certificate authority this service trusts",
        ),
        ("facts differ", "identity", "differ from the signing certificate"),
        ("missing required field", "form", "is required"),
        ("unknown field", "form", "is not a field of this procedure"),
        ("user-auth certificate", "certificate_kind", "not a signing certificate"),
        ("old signature", "signing_time", "sign it again"),
    ],
)
async def test_refused_with_a_reason_and_nothing_stored(
    case: str,
    check: str,
    says: str,
    client: httpx.AsyncClient,
    make_applicant: MakeApplicant,
    jpki: Authority,
    untrusted_ca: Authority,
    db_session: AsyncSession,
) -> None:
    applicant = make_applicant()
    if case == "tampered form":
        package = _tamper(applicant.package())
    elif case == "wrong key":
        other = make_applicant(facts=applicant.card.facts)
        body = json.loads(applicant.package())
        body["certificate"] = json.loads(other.package())["certificate"]
        package = json.dumps(body).encode()
    elif case == "expired certificate":
        now = datetime.now(UTC)
        applicant = make_applicant(
            not_before=now - timedelta(days=400), not_after=now - timedelta(days=1)
        )
        package = applicant.package()
    elif case == "revoked certificate":
        package = applicant.package()
        jpki.revoke("signing", applicant.card.signing.serial)
    elif case == "another CA":
        package = make_applicant(untrusted_ca).package()
    elif case == "facts differ":
        package = applicant.package(applicant.form(residence="福岡県北九州市八幡西区黒崎3-15"))
    elif case == "missing required field":
        package = applicant.package(applicant.form(diagnosed_by=None))
    elif case == "unknown field":
        package = applicant.package(applicant.form(blood_type="A"))
    elif case == "user-auth certificate":
        from e_application.signing.package import build_package

        package = build_package(
            json.loads(__import__("base64").b64decode(json.loads(applicant.package())["document"])),
            key=applicant.card.auth.key,
            certificate=applicant.card.auth.certificate,
        )
    else:
        package = applicant.package(signed_at=datetime.now(UTC) - timedelta(days=30))

    answer = await submit(client, package)

    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert answer.headers["content-type"] == "application/problem+json"
    assert problem["detail"].startswith("the application was refused")
    reasons = " ".join(e["msg"] for e in problem["errors"])
    assert says in reasons, reasons
    assert check in {e["loc"][-1] for e in problem["errors"]} | {"form", "identity"}
    assert applicant.my_number not in answer.text
    assert await _stored(db_session) == (0, 0, 0)


async def test_names_compare_across_width_kana_spacing_and_old_kanji(
    client: httpx.AsyncClient, make_applicant: MakeApplicant
) -> None:
    applicant = make_applicant(
        facts=HolderFacts(
            "髙橋　花子", "female", date(1994, 5, 6), "福岡県北九州市小倉北区城内１－１"
        )
    )
    form = applicant.form(
        name="高橋 花子", residence="福岡県北九州市小倉北区城内1-1", notifier_name="高橋 花子"
    )

    answer = await submit(client, applicant.package(form))

    assert answer.status_code == 201, answer.text


async def test_a_my_number_in_a_text_field_is_refused_without_echo(
    client: httpx.AsyncClient, make_applicant: MakeApplicant
) -> None:
    applicant = make_applicant()

    answer = await submit(client, applicant.package(applicant.form(occupation=applicant.my_number)))

    assert answer.status_code == 422
    assert applicant.my_number not in answer.text


async def test_the_my_number_is_in_no_log_line_event_or_answer(
    client: httpx.AsyncClient,
    make_applicant: MakeApplicant,
    headers: Headers,
    db_session: AsyncSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    applicant = make_applicant()
    answers = [
        await submit(client, applicant.package()),
        await submit(client, applicant.package(applicant.form(occupation=applicant.my_number))),
        await submit(client, applicant.package(my_number=applicant.my_number[:-1] + "x")),
    ]
    receipt = answers[0].json()
    answers.append(
        await client.get(f"/applications/{receipt['application_id']}", headers=headers())
    )
    answers.append(
        await client.get("/applicant/applications", headers=await applicant.sign_in(client))
    )

    events = await read_outbox(db_session)
    assert events, "the submission's event is in the outbox"
    texts = [a.text for a in answers] + [json.dumps(e, default=str) for e in events]
    texts += [r.getMessage() for r in caplog.records] + [caplog.text]
    audit = await db_session.execute(text("SELECT t::text FROM audit_log t"))
    texts += list(audit.scalars())
    for found in texts:
        assert applicant.my_number not in found


async def test_a_procedure_version_counts_from_its_effective_date(
    client: httpx.AsyncClient, make_applicant: MakeApplicant, db_session: AsyncSession
) -> None:
    """Procedures are versioned data: a version to come is refused until its date, while the
    version in force is accepted; each application keeps the version it was signed under."""
    current = (
        await db_session.execute(
            select(Procedure).where(Procedure.code == PREGNANCY, Procedure.version == 1)
        )
    ).scalar_one()
    next_year = today_tokyo() + timedelta(days=365)
    db_session.add(
        Procedure(
            **{
                c.name: getattr(current, c.name)
                for c in Procedure.__table__.columns
                if c.name not in {"version", "effective_from"}
            },
            version=2,
            effective_from=next_year,
        )
    )
    await db_session.flush()
    applicant = make_applicant()

    early = await submit(client, applicant.package(procedure_version=2))
    in_force = await submit(client, applicant.package(procedure_version=1))

    assert early.status_code == 422
    assert "was not in force on the signing date" in early.text
    assert in_force.status_code == 201, in_force.text
    assert in_force.json()["procedure_version"] == 1
