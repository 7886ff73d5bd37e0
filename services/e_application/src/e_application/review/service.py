"""Staff review, limited to the procedure's department (the token's `dept`) and, for ward staff,
their ward: extraction by conditions, opening (access-logged), acceptance (the person resolved
through atena's scoped My Number lookup) and return for correction. Staff never edit the data."""

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from e_application import events
from e_application.applications import repository
from e_application.applications.models import Application, ApplicationHistory, ApplicationVersion
from e_application.applications.service import Intake, my_number_of
from e_application.handover.atena import AtenaClient
from e_application.notices.models import ResultNotice
from e_application.notices.sender import NOTICES
from e_application.procedures import repository as procedures
from e_application.procedures.models import Procedure
from mch_common.auth.principal import Principal
from mch_common.dates import add_months_legal, today_tokyo
from mch_common.errors import Conflict, Forbidden, InvalidInput, NotFound
from mch_common.jobs import wake_after_commit
from mch_common.refusals import refusal, refused_as_miss
from mch_common.work import UnitOfWork

PURPOSE = "電子申請の審査 (reviewing an online application)"
NOT_FOUND = "no application with this id (in your department)"
STAFF_NEVER_EDIT = (
    "staff never edit an application: only the applicant may correct it (補正), with a newly "
    "signed version; return it for correction with the reason instead"
)


def handles(principal: Principal, procedure: Procedure) -> bool:
    """The procedure's department handles it city-wide; a ward office's section (its
    `ward_department`, e.g. 八幡西区保健福祉課) only for its own ward (checked per row)."""
    if principal.dept is None:
        return False
    if principal.dept == procedure.department:
        return True
    return (
        procedure.ward_department is not None
        and principal.ward is not None
        and principal.dept.endswith(procedure.ward_department)
    )


async def reachable_procedures(session: AsyncSession, principal: Principal) -> list[str]:
    return sorted({p.code for p in await procedures.all_versions(session) if handles(principal, p)})


async def _reach(session: AsyncSession, principal: Principal, application: Application) -> None:
    procedure = await procedures.version(
        session, code=application.procedure_code, version=application.procedure_version
    )
    if procedure is None or not handles(principal, procedure):
        raise Forbidden("the application belongs to another department's procedure")
    if principal.ward is not None and principal.ward != application.ward_code:
        raise Forbidden("the application was made to another ward office")


async def reachable_application(
    session: AsyncSession, principal: Principal, application_id: UUID, *, action: str
) -> Application:
    """The application, locked, if the principal's department and ward reach it; else the
    same 404 as for no application (another department learns nothing), recorded refused."""
    application = await repository.by_id_for_update(session, application_id)
    if application is None or application.status == "deleted":
        raise NotFound(NOT_FOUND)
    try:
        await _reach(session, principal, application)
    except Forbidden as denied:
        raise refusal(
            session,
            refused_as_miss(denied, NotFound(NOT_FOUND)),
            principal,
            action=action,
            target_type="application",
            target_id=str(application_id),
            purpose=PURPOSE,
        ) from None
    return application


def _persons(application: Application) -> tuple[str, ...]:
    return (application.person_no,) if application.person_no else ()


@dataclass(frozen=True)
class Opened:
    application: Application
    versions: list[ApplicationVersion]
    history: list[ApplicationHistory]
    has_my_number: bool
    procedure: Procedure


async def extract(
    session: AsyncSession,
    *,
    principal: Principal,
    status: str | None,
    procedure: str | None,
    ward_code: str | None,
    since: datetime | None,
    until: datetime | None,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> tuple[list[Application], tuple[datetime, UUID] | None]:
    """抽出: the applications the principal's department and ward reach, by conditions."""
    codes = await reachable_procedures(session, principal)
    if procedure is not None:
        codes = [c for c in codes if c == procedure]
    if not codes:
        return [], None
    stmt = repository.extraction(
        procedures=codes,
        ward=principal.ward,
        status=status,
        procedure=None,
        ward_code=ward_code,
        since=since,
        until=until,
        after=after,
        limit=limit + 1,
    )
    rows = list((await session.execute(stmt)).scalars())
    page, more = rows[:limit], len(rows) > limit
    UnitOfWork.of(session).record_access(
        principal,
        action="application.extract",
        target_type="application_list",
        purpose=PURPOSE,
        detail={"count": len(page), "status": status, "procedure": procedure, "ward": ward_code},
        persons=[p for a in page for p in _persons(a)],
    )
    last = page[-1] if page and more else None
    return page, (last.submitted_at, last.id) if last else None


async def open_application(
    session: AsyncSession,
    *,
    principal: Principal,
    application_id: UUID,
    action: str = "application.open",
) -> Opened:
    application = await reachable_application(session, principal, application_id, action=action)
    procedure = await procedures.version(
        session, code=application.procedure_code, version=application.procedure_version
    )
    if procedure is None:  # it was found: only a concurrent migration could remove it
        raise NotFound(NOT_FOUND)
    opened = Opened(
        application=application,
        versions=await repository.versions(session, application.id),
        history=await repository.history(session, application.id),
        has_my_number=await my_number_present(session, application.id),
        procedure=procedure,
    )
    UnitOfWork.of(session).record_access(
        principal,
        action=action,
        target_type="application",
        target_id=str(application.id),
        purpose=PURPOSE,
        detail={"receipt_no": application.receipt_no},
        persons=_persons(application),
    )
    return opened


async def my_number_present(session: AsyncSession, application_id: UUID) -> bool:
    from e_application.applications.models import ApplicationMyNumber

    return await session.get(ApplicationMyNumber, application_id) is not None


def _ensure_submitted(application: Application) -> None:
    if application.status != "submitted":
        raise Conflict(
            f"the application is {application.status}; only a submitted application is decided"
        )


def _decide(application: Application, principal: Principal, status: str) -> datetime:
    _ensure_submitted(application)
    now = datetime.now(UTC)
    application.status = status
    application.decided_at = now
    application.decided_by = principal.sub
    application.updated_at = now
    return now


async def accept(
    session: AsyncSession,
    *,
    principal: Principal,
    intake: Intake,
    atena: AtenaClient,
    application_id: UUID,
) -> Application:
    """受理: the person is resolved through atena's scoped lookup (this service's own token),
    the accepted event carries the person number (never the My Number), the result notice is
    queued. If atena does not answer, nothing changes."""
    application = await reachable_application(
        session, principal, application_id, action="application.accept"
    )
    _ensure_submitted(application)  # before asking atena
    procedure = await procedures.version(
        session, code=application.procedure_code, version=application.procedure_version
    )
    if procedure is None:  # it was found: only a concurrent migration could remove it
        raise NotFound(NOT_FOUND)
    person_no = None
    my_number = await my_number_of(session, intake=intake, application_id=application.id)
    if my_number is not None:
        person_no = await atena.lookup_person_no(my_number)
        if person_no is None:
            raise Conflict(
                "atena has no resident with the application's My Number; return the "
                "application for correction with the reason"
            )
    elif procedure.handover is not None:
        raise InvalidInput("the application has no My Number to resolve the person")
    now = _decide(application, principal, "accepted")
    application.person_no = person_no
    application.retain_until = add_months_legal(today_tokyo(now), procedure.retention_years * 12)
    repository.add_history(session, application, actor=principal.sub, action="accepted")
    _queue_notice(session, application, "accepted")
    work = UnitOfWork.of(session)
    if person_no is not None:
        events.APPLICATION_ACCEPTED.emit(
            work,
            tenant=principal.tenant,
            subject=str(application.id),
            data=events.ApplicationAccepted(
                application_id=str(application.id),
                receipt_no=application.receipt_no,
                procedure=application.procedure_code,
                person_no=person_no,
                ward_code=application.ward_code,
                handover=procedure.handover,
            ),
        )
    work.record_access(
        principal,
        action="application.accept",
        target_type="application",
        target_id=str(application.id),
        purpose=PURPOSE,
        detail={"receipt_no": application.receipt_no},
        persons=_persons(application),
    )
    return application


async def return_for_correction(
    session: AsyncSession, *, principal: Principal, application_id: UUID, reason: str
) -> Application:
    """返戻: back to the applicant with the reason; she corrects it with a new signed version."""
    application = await reachable_application(
        session, principal, application_id, action="application.return"
    )
    _decide(application, principal, "returned")
    application.return_reason = reason
    repository.add_history(
        session, application, actor=principal.sub, action="returned", note=reason
    )
    _queue_notice(session, application, "returned")
    work = UnitOfWork.of(session)
    events.APPLICATION_RETURNED.emit(
        work,
        tenant=principal.tenant,
        subject=str(application.id),
        data=events.ApplicationReturned(
            application_id=str(application.id), receipt_no=application.receipt_no
        ),
    )
    work.record_access(
        principal,
        action="application.return",
        target_type="application",
        target_id=str(application.id),
        purpose=PURPOSE,
        detail={"receipt_no": application.receipt_no},
        persons=_persons(application),
    )
    return application


async def refuse_edit(session: AsyncSession, *, principal: Principal, application_id: UUID) -> None:
    """A staff attempt to change an application's data: refused, and the refusal recorded."""
    await reachable_application(session, principal, application_id, action="application.edit")
    raise refusal(
        session,
        Forbidden(STAFF_NEVER_EDIT),
        principal,
        action="application.edit",
        target_type="application",
        target_id=str(application_id),
        purpose=PURPOSE,
    )


def _queue_notice(session: AsyncSession, application: Application, outcome: str) -> None:
    if application.notice_email:
        session.add(
            ResultNotice(
                application_id=application.id,
                receipt_no=application.receipt_no,
                outcome=outcome,
                to_address=application.notice_email,
            )
        )
        wake_after_commit(session, NOTICES)  # sent once the decision commits
