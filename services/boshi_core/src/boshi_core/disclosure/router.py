from pathlib import Path
from typing import Any

from fastapi.responses import Response

from boshi_core.deps import AppSettings, DisclosureExporter, Immunization
from boshi_core.disclosure import service
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(prefix="/people/{person_no}/disclosure", tags=["disclosure"])
PURPOSE = "個人情報保護法第77条 開示請求 (disclosure request)"


@router.get("", summary="Everything boshi_core holds about one person, as JSON (開示請求)")
async def disclosure_json(
    person_no: str, session: Session, principal: DisclosureExporter, immunization: Immunization
) -> dict[str, Any]:
    return await service.export(
        session,
        principal=principal,
        person_no=person_no,
        purpose=PURPOSE,
        immunization=immunization,
    )


@router.get(
    ".pdf",
    summary="The same disclosure as a readable PDF with an embedded Japanese font (開示請求)",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def disclosure_pdf(
    person_no: str,
    session: Session,
    principal: DisclosureExporter,
    settings: AppSettings,
    immunization: Immunization,
) -> Response:
    body = await service.export_pdf(
        session,
        principal=principal,
        person_no=person_no,
        purpose=PURPOSE,
        font_path=Path(settings.pdf_font_path) if settings.pdf_font_path else None,
        immunization=immunization,
    )
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="disclosure-{person_no}.pdf"'},
    )
