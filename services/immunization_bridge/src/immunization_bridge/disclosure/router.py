from typing import Any

from fastapi import APIRouter

from immunization_bridge.deps import DisclosureExporter
from immunization_bridge.disclosure import service
from mch_common.dates import today_tokyo
from mch_common.web import Session

router = APIRouter(tags=["disclosure"])
PURPOSE = "個人情報保護法第77条 開示請求 (disclosure request)"


@router.get(
    "/children/{person_no}/disclosure",
    summary="Everything the bridge holds about one person, as JSON",
)
async def disclosure(
    person_no: str, session: Session, principal: DisclosureExporter
) -> dict[str, Any]:
    return await service.export(
        session, principal=principal, person_no=person_no, on=today_tokyo(), purpose=PURPOSE
    )
