"""The intermediate server's disclosure endpoint, which boshi_core's disclosure across the
platform calls with its service token (mch_common.disclosure's contract)."""

from typing import Any

from intermediate_server.codes.schemas import PersonNo
from intermediate_server.deps import DisclosureExporter, TenantSession
from intermediate_server.disclosure import service
from mch_common.routes import ServiceRouter

router = ServiceRouter(tags=["disclosure"])


@router.get(
    "/persons/{person_no}/disclosure",
    summary="Everything held about one person of the caller's municipality (開示)",
)
async def disclosure(
    person_no: PersonNo, session: TenantSession, principal: DisclosureExporter
) -> dict[str, Any]:
    return await service.export(session, principal=principal, person_no=person_no)
