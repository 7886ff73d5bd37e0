from typing import Annotated, Any, Literal

from fastapi import Query
from fastapi.responses import JSONResponse, Response

from e_application.deps import DisclosureExporter
from e_application.disclosure import pdf, service
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(tags=["disclosure"])


@router.get(
    "/persons/{person_no}/disclosure",
    summary="Everything e_application holds about one person (開示), JSON or PDF",
    response_class=Response,
    responses={
        200: {
            "description": "JSON (default) or PDF",
            "content": {"application/json": {}, "application/pdf": {}},
        }
    },
)
async def disclosure(
    person_no: str,
    session: Session,
    principal: DisclosureExporter,
    format: Annotated[Literal["json", "pdf"], Query()] = "json",
) -> Response:
    export: dict[str, Any] = await service.export(session, principal=principal, person_no=person_no)
    if format == "pdf":
        return Response(pdf.render(export), media_type="application/pdf")
    return JSONResponse(export)
