"""The applicant's side: sign-in with the user-authentication certificate, her applications,
the return reason, and corrections as newly signed versions with the history kept; nobody else
can correct, staff included."""

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from e_application.applications.models import ApplicationVersion
from e_application.jpki.authority import Authority

from .conftest import Headers, MakeApplicant, submit


async def _submitted(client: httpx.AsyncClient, make_applicant: MakeApplicant):  # type: ignore[no-untyped-def]
    applicant = make_applicant()
    answer = await submit(client, applicant.package())
    assert answer.status_code == 201, answer.text
    return applicant, answer.json()


async def test_sign_in_shows_her_applications_only(
    client: httpx.AsyncClient, make_applicant: MakeApplicant
) -> None:
    applicant, receipt = await _submitted(client, make_applicant)
    other, _ = await _submitted(client, make_applicant)

    mine = await client.get("/applicant/applications", headers=await applicant.sign_in(client))
    theirs = await client.get(
        f"/applicant/applications/{receipt['receipt_no']}", headers=await other.sign_in(client)
    )

    assert mine.status_code == 200, mine.text
    assert [a["receipt_no"] for a in mine.json()] == [receipt["receipt_no"]]
    assert mine.json()[0]["status"] == "submitted"
    assert theirs.status_code == 404


async def test_a_challenge_is_used_once_and_a_signing_certificate_cannot_sign_in(
    client: httpx.AsyncClient, make_applicant: MakeApplicant
) -> None:
    applicant = make_applicant()
    challenge = (await client.post("/applicant/challenges")).json()
    body = {
        "challenge_id": challenge["challenge_id"],
        **applicant.card.sign_challenge(challenge["challenge"]),
    }

    first = await client.post("/applicant/sessions", json=body)
    replay = await client.post("/applicant/sessions", json=body)
    challenge = (await client.post("/applicant/challenges")).json()
    import base64

    from e_application.signing.package import sign_bytes

    with_signing_cert = await client.post(
        "/applicant/sessions",
        json={
            "challenge_id": challenge["challenge_id"],
            "certificate": base64.b64encode(
                applicant.card.signing.certificate.public_bytes(
                    __import__("cryptography").hazmat.primitives.serialization.Encoding.DER
                )
            ).decode(),
            "signature": base64.b64encode(
                sign_bytes(applicant.card.signing.key, base64.b64decode(challenge["challenge"]))
            ).decode(),
        },
    )

    assert first.status_code == 201
    assert replay.status_code == 401
    assert "used or expired" in replay.json()["detail"]
    assert with_signing_cert.status_code == 401
    assert "not a user-authentication certificate" in with_signing_cert.json()["detail"]


async def test_returned_then_corrected_keeps_every_version_and_the_history(
    client: httpx.AsyncClient,
    make_applicant: MakeApplicant,
    headers: Headers,
    db_session: AsyncSession,
) -> None:
    applicant, receipt = await _submitted(client, make_applicant)
    returned = await client.post(
        f"/applications/{receipt['application_id']}/return",
        json={"reason": "妊娠週数と出産予定日が合いません。ご確認ください。"},
        headers=headers(),
    )
    session = await applicant.sign_in(client)
    seen = await client.get(f"/applicant/applications/{receipt['receipt_no']}", headers=session)
    correction = applicant.package(
        applicant.form(weeks_of_pregnancy=12), corrects=receipt["receipt_no"]
    )

    corrected = await client.post(
        f"/applicant/applications/{receipt['receipt_no']}/corrections",
        content=correction,
        headers=session,
    )
    after = await client.get(f"/applicant/applications/{receipt['receipt_no']}", headers=session)

    assert returned.status_code == 200, returned.text
    assert seen.json()["status"] == "returned"
    assert seen.json()["return_reason"].startswith("妊娠週数")
    assert corrected.status_code == 201, corrected.text
    assert corrected.json()["version_no"] == 2
    view = after.json()
    assert view["status"] == "submitted"
    assert view["return_reason"] is None
    assert [v["form"]["weeks_of_pregnancy"] for v in view["versions"]] == [9, 12]
    assert [h["action"] for h in view["history"]] == ["submitted", "returned", "corrected"]
    count = select(func.count()).select_from(ApplicationVersion)
    assert (await db_session.execute(count)).scalar_one() == 2


async def test_nobody_else_can_correct_staff_included(
    client: httpx.AsyncClient,
    make_applicant: MakeApplicant,
    headers: Headers,
    db_session: AsyncSession,
) -> None:
    applicant, receipt = await _submitted(client, make_applicant)
    other = make_applicant()
    url = f"/applicant/applications/{receipt['receipt_no']}/corrections"
    forged = other.package(other.form(), corrects=receipt["receipt_no"])
    own_package_other_session = applicant.package(applicant.form(), corrects=receipt["receipt_no"])

    by_other = await client.post(url, content=forged, headers=await other.sign_in(client))
    by_other_with_her_package = await client.post(
        url, content=own_package_other_session, headers=await other.sign_in(client)
    )
    by_staff = await client.post(url, content=own_package_other_session, headers=headers())
    staff_edit = await client.patch(
        f"/applications/{receipt['application_id']}",
        json={"form": {"weeks_of_pregnancy": 12}},
        headers=headers(),
    )

    assert by_other.status_code == 403, by_other.text
    assert "only the applicant" in by_other.json()["detail"]
    assert by_other_with_her_package.status_code == 403
    assert by_staff.status_code == 401
    assert "applicant session" in by_staff.json()["detail"]
    assert staff_edit.status_code == 403, staff_edit.text
    assert "staff never edit" in staff_edit.json()["detail"]
    count = select(func.count()).select_from(ApplicationVersion)
    assert (await db_session.execute(count)).scalar_one() == 1
    opened = await client.get(f"/applications/{receipt['application_id']}", headers=headers())
    assert opened.json()["versions"][0]["form"]["weeks_of_pregnancy"] == 9
    assert [h["action"] for h in opened.json()["history"]] == ["submitted"]


async def test_a_correction_signed_after_a_move_needs_the_renewed_certificate(
    client: httpx.AsyncClient, make_applicant: MakeApplicant, jpki: Authority
) -> None:
    """After a change of address the old signing certificate is revoked (CRL) and a new one
    with the new address is issued: the correction with the new address verifies."""
    from e_application.jpki.applicant import Card
    from e_application.jpki.profile import HolderFacts

    applicant, receipt = await _submitted(client, make_applicant)
    moved = HolderFacts(
        applicant.card.facts.name,
        "female",
        applicant.card.facts.birth_date,
        "福岡県北九州市八幡西区黒崎3-15-1",
    )
    stale = applicant.package(
        applicant.form(residence=moved.address), corrects=receipt["receipt_no"]
    )
    session = await applicant.sign_in(client)
    applicant.card = Card.reissue_signing(applicant.card, jpki, moved)
    url = f"/applicant/applications/{receipt['receipt_no']}/corrections"

    refused = await client.post(url, content=stale, headers=session)
    accepted = await client.post(
        url,
        content=applicant.package(
            applicant.form(residence=moved.address), corrects=receipt["receipt_no"]
        ),
        headers=session,
    )

    assert refused.status_code == 422
    assert "revoked" in refused.text
    assert accepted.status_code == 201, accepted.text
