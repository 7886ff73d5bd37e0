from dataclasses import asdict
from typing import Annotated

from fastapi import Query, Request

from immunization_bridge.deps import RecordImporter
from immunization_bridge.records import service
from immunization_bridge.records.schemas import ImportReportOut
from mch_common.dates import today_tokyo
from mch_common.errors import InvalidInput
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(prefix="/imports", tags=["imports"])


@router.post(
    "",
    summary="Import one batch file of the register (CSV, UTF-8 or cp932) sent as the body",
    openapi_extra={
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
    },
)
async def import_file(
    request: Request,
    session: Session,
    principal: RecordImporter,
    filename: Annotated[str, Query(min_length=1, max_length=255, pattern=r"^[\w.-]+$")],
) -> ImportReportOut:
    limit: int = request.app.state.settings.max_upload_bytes
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise InvalidInput(f"the file is larger than {limit} bytes")
    if not data:
        raise InvalidInput("the body is empty: send the file's bytes")
    report = await service.import_file(
        session, data=bytes(data), filename=filename, actor=principal.sub, today=today_tokyo()
    )
    return ImportReportOut.model_validate(asdict(report))
