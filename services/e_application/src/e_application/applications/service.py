"""Submission and correction (補正) of signed applications: every check run, every outcome
kept; anything refused is refused with reasons the applicant can act on, and nothing stored."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from e_application import events
from e_application.applications import repository
from e_application.applications.identity import differing_facts
from e_application.applications.models import (
    Application,
    ApplicationHistory,
    ApplicationMyNumber,
    ApplicationVersion,
)
from e_application.procedures import repository as procedures
from e_application.procedures.models import Procedure
from e_application.procedures.validation import validate_form
from e_application.sealing import Sealer
from e_application.signing.package import PackageError, SignedPackage, parse_package
from e_application.signing.trust import Check, TrustStore, Verification
from mch_common.auth.principal import Principal
from mch_common.dates import add_months_legal, today_tokyo
from mch_common.db import insert_new
from mch_common.errors import Conflict, Forbidden, InvalidInput, NotFound
from mch_common.mynumber import MyNumberVault, is_valid_my_number
from mch_common.refusals import refusal
from mch_common.work import UnitOfWork

APPLICANT_PREFIX = "applicant:"


def applicant_principal(card: str, *, tenant: str) -> Principal:
    """The applicant as the access log names her: by her card, never by name."""
    return Principal(
        sub=f"{APPLICANT_PREFIX}{card}", tenant=tenant, scopes=frozenset(), roles=("applicant",)
    )


def applicant_card(applicant: Principal) -> str:
    if not applicant.sub.startswith(APPLICANT_PREFIX):
        raise Forbidden("only the applicant may do this, with her own applicant session")
    return applicant.sub.removeprefix(APPLICANT_PREFIX)


CHANNELS = ("city_form", "portal")
_DOCUMENT_MEMBERS = {"procedure", "procedure_version", "signed_at", "form", "my_number", "corrects"}
PURPOSE = "電子申請の受付 (receiving an online application)"


@dataclass(frozen=True)
class Intake:
    """What submission needs besides the package: the service's keys and trusted CAs."""

    trust: TrustStore
    sealer: Sealer
    vault: MyNumberVault
    max_signature_age: timedelta
    tenant: str


@dataclass(frozen=True)
class Verified:
    package: SignedPackage
    verification: Verification
    procedure: Procedure
    form: dict[str, Any]
    my_number: str | None


def _refuse(problems: list[dict[str, Any]]) -> InvalidInput:
    first = problems[0]["msg"]
    more = f" (and {len(problems) - 1} more, see errors)" if len(problems) > 1 else ""
    return InvalidInput(f"the application was refused: {first}{more}", errors=problems)


def _check_error(check: Check) -> dict[str, Any]:
    return {"loc": ["package", check.check], "msg": check.detail, "type": "check_failed"}


async def verify(
    session: AsyncSession, *, intake: Intake, raw: bytes, received_at: datetime
) -> Verified:
    """Every check of a package; raises InvalidInput naming every failure."""
    try:
        package = parse_package(raw)
    except PackageError as exc:
        raise _refuse([{"loc": ["package"], "msg": str(exc), "type": "package"}]) from None
    document = package.document
    problems: list[dict[str, Any]] = []
    unknown = sorted(set(document) - _DOCUMENT_MEMBERS)
    if unknown:
        problems.append(
            {
                "loc": ["document"],
                "msg": f"the signed document has unknown members: {', '.join(unknown)}",
                "type": "unknown_field",
            }
        )
    verification = intake.trust.verify_package(
        package, received_at=received_at, max_age=intake.max_signature_age
    )
    problems.extend(_check_error(c) for c in verification.failures())
    code, version_no = document.get("procedure"), document.get("procedure_version")
    procedure = None
    if isinstance(code, str) and isinstance(version_no, int) and not isinstance(version_no, bool):
        procedure = await procedures.version(session, code=code, version=version_no)
    if procedure is None:
        raise _refuse(
            [
                *problems,
                {
                    "loc": ["document", "procedure"],
                    "msg": "unknown procedure or version; fill in the current form again",
                    "type": "procedure",
                },
            ]
        )
    signed_on = today_tokyo(verification.signed_at or received_at)
    if not (
        procedure.effective_from <= signed_on
        and (procedure.effective_to is None or signed_on < procedure.effective_to)
    ):
        problems.append(
            {
                "loc": ["document", "procedure_version"],
                "msg": f"version {procedure.version} of this procedure was not in force on the "
                "signing date; fill in the current form again",
                "type": "procedure",
            }
        )
    form, form_errors = validate_form(
        fields=procedure.fields, rules=procedure.rules, form=document.get("form")
    )
    problems.extend(form_errors)
    verification.add(
        "form",
        not form_errors,
        "the form matches the procedure"
        if not form_errors
        else f"{len(form_errors)} field(s) refused",
    )
    my_number = document.get("my_number")
    if procedure.my_number_required:
        if not isinstance(my_number, str) or not is_valid_my_number(my_number):
            problems.append(
                {
                    "loc": ["document", "my_number"],
                    "msg": "a valid 12-digit My Number is required (check digit)",
                    "type": "my_number",
                }
            )
            my_number = None
    elif my_number is not None:
        problems.append(
            {
                "loc": ["document", "my_number"],
                "msg": "this procedure does not collect a My Number; leave it out",
                "type": "unknown_field",
            }
        )
        my_number = None
    if verification.facts is not None and not form_errors:
        differing = differing_facts(
            verification.facts,
            form=form,
            identity_fields=procedure.identity_fields,
            implied=procedure.implied_facts,
        )
        detail = (
            "name, sex, birth date and address match the signing certificate"
            if not differing
            else f"the application's {', '.join(differing)} differ from the signing "
            "certificate's; write them as on your My Number card (after a move or a change of "
            "name, renew the card's certificate first)"
        )
        verification.add("identity", not differing, detail)
        if differing:
            problems.append(
                {"loc": ["form", *differing], "msg": detail, "type": "identity_mismatch"}
            )
    if problems:
        raise _refuse(problems)
    return Verified(
        package, verification, procedure, form, my_number if isinstance(my_number, str) else None
    )


def _aad(application_id: UUID, version_no: int) -> bytes:
    return f"{application_id}:{version_no}".encode()


def _retain_until(procedure: Procedure, on: date) -> date:
    return add_months_legal(on, procedure.retention_years * 12)


async def _add_version(
    session: AsyncSession,
    *,
    intake: Intake,
    application: Application,
    verified: Verified,
    version_no: int,
    channel: str,
    received_at: datetime,
) -> ApplicationVersion:
    import hashlib

    sealed = intake.sealer.seal(verified.package.raw, aad=_aad(application.id, version_no))
    row = ApplicationVersion(
        application_id=application.id,
        version_no=version_no,
        channel=channel,
        received_at=received_at,
        signed_at=verified.verification.signed_at or received_at,
        form=verified.form,
        checks=[c.as_json() for c in verified.verification.checks],
        authority=verified.verification.authority or "",
        certificate_serial=verified.verification.serial or "",
        package_sha256=hashlib.sha256(verified.package.raw).hexdigest(),
        package_key_id=sealed.key_id,
        package_sealed=sealed.data,
    )
    await insert_new(session, row)  # one prepared INSERT: nothing changes it afterwards
    return row


async def submit(
    session: AsyncSession,
    *,
    intake: Intake,
    raw: bytes,
    channel: str,
    received_at: datetime | None = None,
) -> tuple[Application, ApplicationVersion]:
    """A new application from the city's form or the national portal."""
    if channel not in CHANNELS:
        raise ValueError(channel)
    received = received_at or datetime.now(UTC)
    verified = await verify(session, intake=intake, raw=raw, received_at=received)
    if "corrects" in verified.package.document:
        raise _refuse(
            [
                {
                    "loc": ["document", "corrects"],
                    "msg": "a correction is sent to /applicant/applications/{receipt_no}/"
                    "corrections after signing in, not as a new application",
                    "type": "correction",
                }
            ]
        )
    procedure = verified.procedure
    application = Application(
        receipt_no=await repository.next_receipt_no(session, year=today_tokyo(received).year),
        procedure_code=procedure.code,
        procedure_version=procedure.version,
        department=procedure.department,
        ward_code=verified.form[procedure.ward_field],
        channel=channel,
        status="submitted",
        card_id=verified.verification.card,
        current_version=1,
        purpose=procedure.purpose,
        notice_email=verified.form.get(procedure.email_field) if procedure.email_field else None,
        submitted_at=received,
        updated_at=received,
        retain_until=_retain_until(procedure, today_tokyo(received)),
    )
    await insert_new(session, application)
    version = await _add_version(
        session,
        intake=intake,
        application=application,
        verified=verified,
        version_no=1,
        channel=channel,
        received_at=received,
    )
    if verified.my_number is not None:
        sealed = intake.vault.encrypt(verified.my_number, aad=str(application.id).encode())
        await insert_new(
            session,
            ApplicationMyNumber(
                application_id=application.id, key_id=sealed.key_id, ciphertext=sealed.ciphertext
            ),
        )
    actor = f"applicant:{verified.verification.card}"
    await insert_new(
        session,
        ApplicationHistory(
            application_id=application.id, actor=actor, action="submitted", version_no=1
        ),
    )
    work = UnitOfWork.of(session)
    events.APPLICATION_SUBMITTED.emit(
        work,
        tenant=intake.tenant,
        subject=str(application.id),
        data=events.ApplicationSubmitted(
            application_id=str(application.id),
            receipt_no=application.receipt_no,
            procedure=procedure.code,
            channel=channel,
            ward_code=application.ward_code,
        ),
    )
    work.record(
        actor=actor,
        action="application.submit",
        target_type="application",
        target_id=str(application.id),
        purpose=PURPOSE,
        detail={"receipt_no": application.receipt_no, "channel": channel},
    )
    return application, version


async def correct(
    session: AsyncSession,
    *,
    intake: Intake,
    applicant: Principal,
    receipt_no: str,
    raw: bytes,
    received_at: datetime | None = None,
) -> tuple[Application, ApplicationVersion]:
    """The applicant's correction (補正): a newly signed version by the same card, while the
    application is submitted or returned. Nobody else may correct it: not another card, and
    not staff (they have no applicant session)."""
    received = received_at or datetime.now(UTC)
    card = applicant_card(applicant)
    application = await repository.by_receipt(session, receipt_no, for_update=True)
    if application is None or application.status == "deleted":
        raise NotFound(f"no application {receipt_no}")
    if application.card_id != card:
        raise refusal(
            session,
            Forbidden("only the applicant who signed the application may correct it (補正)"),
            applicant,
            action="application.correct",
            target_type="application",
            target_id=str(application.id),
            purpose=PURPOSE,
        )
    if application.status not in {"submitted", "returned"}:
        raise Conflict(
            f"the application is {application.status}; only a submitted or returned "
            "application can be corrected"
        )
    verified = await verify(session, intake=intake, raw=raw, received_at=received)
    document = verified.package.document
    problems = []
    if document.get("corrects") != receipt_no:
        problems.append(
            {
                "loc": ["document", "corrects"],
                "msg": f"the signed document must name the application it corrects ({receipt_no})",
                "type": "correction",
            }
        )
    if verified.verification.card != card:
        problems.append(
            {
                "loc": ["package", "certificate"],
                "msg": "the correction must be signed with the same My Number card",
                "type": "correction",
            }
        )
    if verified.procedure.code != application.procedure_code:
        problems.append(
            {
                "loc": ["document", "procedure"],
                "msg": "a correction keeps the procedure",
                "type": "correction",
            }
        )
    if problems:
        raise _refuse(problems)
    version_no = application.current_version + 1
    version = await _add_version(
        session,
        intake=intake,
        application=application,
        verified=verified,
        version_no=version_no,
        channel=application.channel,
        received_at=received,
    )
    if verified.my_number is not None:
        existing = await session.get(ApplicationMyNumber, application.id)
        sealed = intake.vault.encrypt(verified.my_number, aad=str(application.id).encode())
        if existing is None:
            session.add(
                ApplicationMyNumber(
                    application_id=application.id,
                    key_id=sealed.key_id,
                    ciphertext=sealed.ciphertext,
                )
            )
        else:
            existing.key_id, existing.ciphertext = sealed.key_id, sealed.ciphertext
    procedure = verified.procedure
    application.current_version = version_no
    application.procedure_version = procedure.version
    application.ward_code = verified.form[procedure.ward_field]
    application.notice_email = (
        verified.form.get(procedure.email_field) if procedure.email_field else None
    )
    application.status = "submitted"
    application.return_reason = None
    application.updated_at = received
    repository.add_history(
        session, application, actor=applicant.sub, action="corrected", version_no=version_no
    )
    work = UnitOfWork.of(session)
    events.APPLICATION_CORRECTED.emit(
        work,
        tenant=intake.tenant,
        subject=str(application.id),
        data=events.ApplicationCorrected(
            application_id=str(application.id), receipt_no=receipt_no, version_no=version_no
        ),
    )
    work.record_access(
        applicant,
        action="application.correct",
        target_type="application",
        target_id=str(application.id),
        purpose=PURPOSE,
        detail={"receipt_no": receipt_no, "version_no": version_no},
        persons=[application.person_no] if application.person_no else (),
    )
    return application, version


def unseal_package(intake: Intake, version: ApplicationVersion) -> bytes:
    from e_application.sealing import Sealed

    return intake.sealer.unseal(
        Sealed(version.package_key_id, version.package_sealed),
        aad=_aad(version.application_id, version.version_no),
    )


async def my_number_of(
    session: AsyncSession, *, intake: Intake, application_id: UUID
) -> str | None:
    from mch_common.mynumber import EncryptedMyNumber

    row = await session.get(ApplicationMyNumber, application_id)
    if row is None:
        return None
    return intake.vault.decrypt(
        EncryptedMyNumber(row.key_id, row.ciphertext), aad=str(application_id).encode()
    )
