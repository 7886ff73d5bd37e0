"""The applicant's side: sign in with the user-authentication certificate (a signed challenge),
see her applications, the staff's reason when one is returned and every version, and correct
one with a newly signed version. Her session travels in `X-Applicant-Session`; a staff token
is no applicant session, so staff cannot correct."""

import base64
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Header, Request

from e_application.applicant import service
from e_application.applicant.schemas import ChallengeOut, SessionOut, SignInIn
from e_application.applications import service as applications
from e_application.applications.router import _package, _receipt
from e_application.applications.schemas import (
    PACKAGE_BODY,
    ApplicantApplicationOut,
    HistoryOut,
    ReceiptOut,
    VersionOut,
)
from e_application.deps import IntakeDep, SettingsDep
from mch_common.auth.principal import Principal
from mch_common.openapi import problem_responses
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(prefix="/applicant", tags=["applicant"])


async def _applicant(
    session: Session,
    settings: SettingsDep,
    x_applicant_session: Annotated[
        str | None,
        Header(max_length=200, description="the token of POST /applicant/sessions"),
    ] = None,
) -> Principal:
    return await service.applicant_of(session, token=x_applicant_session, tenant=settings.tenant)


Applicant = Annotated[Principal, Depends(_applicant)]


def _own(view: service.OwnView) -> ApplicantApplicationOut:
    a = view.application
    return ApplicantApplicationOut(
        receipt_no=a.receipt_no,
        procedure_code=a.procedure_code,
        status=a.status,
        return_reason=a.return_reason,
        current_version=a.current_version,
        submitted_at=a.submitted_at,
        updated_at=a.updated_at,
        purpose=a.purpose,
        versions=[VersionOut.model_validate(v) for v in view.versions],
        history=[HistoryOut.model_validate(h) for h in view.history],
    )


@router.post("/challenges", status_code=201, summary="A one-time challenge to sign in with")
async def challenge(session: Session, settings: SettingsDep) -> ChallengeOut:
    row = await service.new_challenge(
        session, lifetime=timedelta(seconds=settings.challenge_seconds)
    )
    return ChallengeOut(
        challenge_id=row.id,
        challenge=base64.b64encode(row.nonce).decode(),
        expires_at=row.expires_at,
    )


@router.post(
    "/sessions",
    status_code=201,
    summary="Sign in: the challenge signed with the user-authentication certificate (利用者証明用)",
    responses=problem_responses(401),
)
async def sign_in(body: SignInIn, session: Session, settings: SettingsDep) -> SessionOut:
    token, row = await service.open_session(
        session,
        trust=settings.trust,
        challenge_id=body.challenge_id,
        certificate=body.certificate,
        signature=body.signature,
        lifetime=timedelta(minutes=settings.applicant_session_minutes),
        tenant=settings.tenant,
    )
    return SessionOut(session_token=token, expires_at=row.expires_at)


@router.get(
    "/applications",
    summary="My applications, their status and the reason of a return",
    responses=problem_responses(401),
)
async def my_applications(session: Session, applicant: Applicant) -> list[ApplicantApplicationOut]:
    return [_own(v) for v in await service.own_applications(session, applicant=applicant)]


@router.get(
    "/applications/{receipt_no}",
    summary="One of my applications with every version and its history",
    responses=problem_responses(401),
)
async def my_application(
    receipt_no: str, session: Session, applicant: Applicant
) -> ApplicantApplicationOut:
    return _own(await service.own_application(session, applicant=applicant, receipt_no=receipt_no))


@router.post(
    "/applications/{receipt_no}/corrections",
    status_code=201,
    summary="Correct my application (補正) with a newly signed version",
    openapi_extra=PACKAGE_BODY,
    responses=problem_responses(401, 403, 409),
)
async def correct(
    receipt_no: str, request: Request, session: Session, intake: IntakeDep, applicant: Applicant
) -> ReceiptOut:
    application, version = await applications.correct(
        session,
        intake=intake,
        applicant=applicant,
        receipt_no=receipt_no,
        raw=await _package(request),
    )
    return _receipt(application, version)
