"""Retention: the due-for-deletion list and the deletion by the office (職権削除)."""

from uuid import UUID

from e_application.applications.schemas import ApplicationOut
from e_application.deps import Deleter
from e_application.retention import service
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(tags=["retention"])


@router.get("/retention/due", summary="Applications past their retention period")
async def due(session: Session, principal: Deleter) -> list[ApplicationOut]:
    return [
        ApplicationOut.model_validate(a) for a in await service.due(session, principal=principal)
    ]


@router.delete(
    "/applications/{application_id}",
    summary="Delete after retention (職権削除): the form, packages and My Number go; the log stays",
)
async def delete(application_id: UUID, session: Session, principal: Deleter) -> ApplicationOut:
    application = await service.delete(session, principal=principal, application_id=application_id)
    return ApplicationOut.model_validate(application)
