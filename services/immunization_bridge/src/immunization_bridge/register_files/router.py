from typing import Annotated

from fastapi import Path, Query, status
from fastapi.responses import Response

from immunization_bridge.deps import RegisterFileExporter
from immunization_bridge.register_files import service
from immunization_bridge.register_files.layout import ENCODING
from immunization_bridge.register_files.schemas import (
    RegisterChangeOut,
    RegisterFileRunDetailOut,
    RegisterFileRunOut,
    RegisterFileRunPageOut,
)
from mch_common.dates import today_tokyo
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(prefix="/register-files", tags=["register files"])
RunId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Build the next file for the register (異動連携ファイル) of every change not yet sent",
)
async def build(session: Session, principal: RegisterFileExporter) -> RegisterFileRunOut:
    run = await service.build(session, actor=service.Actor(principal=principal), on=today_tokyo())
    return RegisterFileRunOut.model_validate(run)


@router.get("", summary="The files' run records, newest first, paged")
async def list_runs(
    session: Session,
    principal: RegisterFileExporter,
    before: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RegisterFileRunPageOut:
    runs = await service.runs(session, before=before, limit=limit)
    return RegisterFileRunPageOut(
        items=[RegisterFileRunOut.model_validate(run) for run in runs],
        next_before=runs[-1].id if len(runs) == limit else None,
    )


@router.get("/{run_id}", summary="A run record and the changes that went into its file")
async def run_detail(
    run_id: RunId, session: Session, principal: RegisterFileExporter
) -> RegisterFileRunDetailOut:
    found = await service.run_with_changes(
        session, actor=service.Actor(principal=principal), run_id=run_id
    )
    return RegisterFileRunDetailOut(
        **RegisterFileRunOut.model_validate(found.run).model_dump(),
        changes_in_file=[RegisterChangeOut.model_validate(c) for c in found.changes],
    )


@router.get(
    "/{run_id}/content",
    summary="The file itself, byte for byte as first built (delivery and re-delivery)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def content(run_id: RunId, session: Session, principal: RegisterFileExporter) -> Response:
    run = await service.deliver(session, actor=service.Actor(principal=principal), run_id=run_id)
    return Response(
        run.content,
        media_type=f"text/csv; charset={ENCODING}",
        headers={
            "Content-Disposition": f'attachment; filename="{run.filename}"',
            "X-Content-SHA256": run.sha256,
        },
    )
