from typing import Any

from fastapi.responses import Response

from immunization_bridge.deps import DisclosureExporter
from immunization_bridge.disclosure import service
from mch_common.dates import today_tokyo
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(tags=["disclosure"])
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


@router.get(
    "/children/{person_no}/disclosure.pdf",
    summary="The same disclosure as a readable PDF with an embedded Japanese font (開示請求)",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def disclosure_pdf(
    person_no: str, session: Session, principal: DisclosureExporter
) -> Response:
    body = await service.export_pdf(
        session, principal=principal, person_no=person_no, on=today_tokyo(), purpose=PURPOSE
    )
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="disclosure-{person_no}.pdf"'},
    )
