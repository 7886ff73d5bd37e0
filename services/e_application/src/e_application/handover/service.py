"""The hand-over to boshi_core, by batch, never by database access: boshi_core pulls the
accepted applications of the procedures it takes (person number, never the My Number) and
confirms each once its pregnancy is open; until confirmed, a pull answers it again (boshi_core
is idempotent on the receipt number)."""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from e_application.applications import repository
from e_application.applications.models import Application, ApplicationVersion
from mch_common.auth.principal import Principal
from mch_common.errors import Conflict, NotFound
from mch_common.work import UnitOfWork

PURPOSE = "母子保健システムへの引継ぎ (hand-over to the MCH system)"
HANDOVERS = ("boshi_pregnancy",)


@dataclass(frozen=True)
class Accepted:
    application: Application
    version: ApplicationVersion


async def pending(
    session: AsyncSession, *, principal: Principal, handover: str, limit: int
) -> list[Accepted]:
    from e_application.procedures import repository as procedures

    codes = sorted(
        {p.code for p in await procedures.all_versions(session) if p.handover == handover}
    )
    rows = await repository.to_hand_over(session, procedures=codes, limit=limit) if codes else []
    found = []
    for application in rows:
        version = await repository.version(session, application.id, application.current_version)
        if version is not None:
            found.append(Accepted(application, version))
    UnitOfWork.of(session).record_access(
        principal,
        action="export.accepted",
        target_type="application_list",
        purpose=PURPOSE,
        detail={"count": len(found), "handover": handover},
        persons=[a.application.person_no for a in found if a.application.person_no],
    )
    return found


async def confirm(session: AsyncSession, *, principal: Principal, receipt_no: str) -> Application:
    """boshi_core has taken it: a repeated confirmation changes nothing."""
    application = await repository.by_receipt(session, receipt_no, for_update=True)
    if application is None:
        raise NotFound(f"no application {receipt_no}")
    if application.status != "accepted":
        raise Conflict(f"application {receipt_no} is {application.status}, not accepted")
    if application.handed_over_at is None:
        application.handed_over_at = datetime.now(UTC)
        repository.add_history(session, application, actor=principal.sub, action="handed_over")
        UnitOfWork.of(session).record_access(
            principal,
            action="export.confirm",
            target_type="application",
            target_id=str(application.id),
            purpose=PURPOSE,
            persons=[application.person_no] if application.person_no else (),
        )
    return application
