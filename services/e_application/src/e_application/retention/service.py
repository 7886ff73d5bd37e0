"""Retention (III-7): each procedure's retention period is data; applications past it are
listed, and staff delete them (職権削除): the form, the signed packages and the encrypted My
Number go; the application's row (scrubbed), its history and the access log stay."""

from datetime import UTC, date, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from e_application import events
from e_application.applications import repository
from e_application.applications.models import Application
from e_application.review.service import reachable_application, reachable_procedures
from mch_common.auth.principal import Principal
from mch_common.dates import today_tokyo
from mch_common.errors import Conflict
from mch_common.work import UnitOfWork

PURPOSE = "保存期間経過後の職権削除 (deletion after the retention period)"


async def due(
    session: AsyncSession, *, principal: Principal, on: date | None = None
) -> list[Application]:
    codes = set(await reachable_procedures(session, principal))
    rows = [
        a
        for a in await repository.due_for_deletion(session, on=on or today_tokyo())
        if a.procedure_code in codes and (principal.ward is None or principal.ward == a.ward_code)
    ]
    UnitOfWork.of(session).record_access(
        principal,
        action="retention.due",
        target_type="application_list",
        purpose=PURPOSE,
        detail={"count": len(rows)},
        persons=[a.person_no for a in rows if a.person_no],
    )
    return rows


async def delete(
    session: AsyncSession, *, principal: Principal, application_id: UUID, on: date | None = None
) -> Application:
    application = await reachable_application(
        session, principal, application_id, action="application.delete"
    )
    today = on or today_tokyo()
    if application.retain_until >= today:
        raise Conflict(
            f"the application is kept until {application.retain_until.isoformat()}; it can be "
            "deleted after that day"
        )
    await repository.erase_contents(session, application.id)
    persons = [application.person_no] if application.person_no else []
    application.status = "deleted"
    application.deleted_at = datetime.now(UTC)
    application.deleted_by = principal.sub
    application.notice_email = None
    application.card_id = None
    application.return_reason = None
    repository.add_history(session, application, actor=principal.sub, action="deleted")
    work = UnitOfWork.of(session)
    events.APPLICATION_DELETED.emit(
        work,
        tenant=principal.tenant,
        subject=str(application.id),
        data=events.ApplicationDeleted(
            application_id=str(application.id), receipt_no=application.receipt_no
        ),
    )
    work.record_access(
        principal,
        action="application.delete",
        target_type="application",
        target_id=str(application.id),
        purpose=PURPOSE,
        detail={"receipt_no": application.receipt_no},
        persons=persons,
    )
    return application
