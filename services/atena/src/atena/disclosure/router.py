from typing import Annotated, Any

from fastapi import Request

from atena.disclosure import service
from atena.web import registry_context
from mch_common.auth.deps import require_scope
from mch_common.auth.principal import Principal
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(tags=["disclosure"])
DisclosureExporter = Annotated[Principal, require_scope("atena:disclosure:export")]
PURPOSE = "個人情報保護法第77条 開示請求 (disclosure request)"


@router.get(
    "/persons/{person_no}/disclosure",
    summary="Everything atena holds about one person, as JSON (開示請求)",
)
async def disclosure(
    person_no: str, session: Session, principal: DisclosureExporter, request: Request
) -> dict[str, Any]:
    return await service.export(
        session, ctx=registry_context(request, principal, PURPOSE), person_no=person_no
    )
