"""System management routes: a municipality's system administrator for its own municipality,
the platform operator for every one (see admin.service)."""

from fastapi import Request

from intermediate_server.admin import service
from intermediate_server.admin.schemas import (
    BatchRunOut,
    BatchRunsOut,
    HealthOut,
    StatOut,
    StatsOut,
)
from intermediate_server.deps import (
    AppSettings,
    Hub,
    PlatformAdmin,
    SystemAdmin,
    SystemSession,
    platform_view,
)
from intermediate_server.exchange.service import sessions_of
from mch_common.audit_anchor import AuditAnchors
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(prefix="/admin/system", tags=["system"])


def _own_tenant(principal: SystemAdmin) -> str | None:
    """None for the platform operator (every municipality), else the caller's own."""
    return None if platform_view(principal) else principal.tenant


@router.get("/batches", summary="The latest run of each batch job")
async def batches(session: SystemSession, principal: SystemAdmin) -> BatchRunsOut:
    runs = await service.batch_status(session, tenant=_own_tenant(principal))
    return BatchRunsOut(items=[BatchRunOut.model_validate(r, from_attributes=True) for r in runs])


@router.get("/stats", summary="Provision records per tenant, side, item and outcome")
async def stats(session: SystemSession, principal: SystemAdmin) -> StatsOut:
    return StatsOut(items=[StatOut.model_validate(s) for s in await service.stats(session)])


@router.get("/health", summary="Permission list and signing key health")
async def health(session: SystemSession, principal: SystemAdmin, hub: Hub) -> HealthOut:
    result = await service.health(session, hub=hub)
    return HealthOut.model_validate(result, from_attributes=True)


@router.post("/permission-list/sync", summary="Copy the hub's permission list (platform)")
async def sync_permission_list(session: Session, principal: PlatformAdmin, hub: Hub) -> BatchRunOut:
    run = await service.sync_permission_list(sessions_of(session), hub)
    return BatchRunOut.model_validate(run, from_attributes=True)


@router.post("/held/expire", summary="Refuse held items whose deadline passed")
async def expire_held(session: Session, principal: SystemAdmin) -> BatchRunOut:
    run = await service.expire_held(sessions_of(session), tenant=_own_tenant(principal))
    return BatchRunOut.model_validate(run, from_attributes=True)


@router.post("/retention", summary="Delete inquiries, decisions and permits past retention")
async def delete_past_retention(
    session: Session, principal: SystemAdmin, settings: AppSettings
) -> BatchRunOut:
    run = await service.delete_past_retention(
        sessions_of(session),
        retention_years=settings.record_retention_years,
        tenant=_own_tenant(principal),
    )
    return BatchRunOut.model_validate(run, from_attributes=True)


@router.post(
    "/records/retire",
    summary="Retire provision records past retention, the chain still verifiable (platform)",
)
async def retire_records(
    request: Request, session: Session, principal: PlatformAdmin, settings: AppSettings
) -> BatchRunOut:
    anchors: AuditAnchors = request.app.state.runtime.anchors
    run = await service.retire_records(
        sessions_of(session),
        anchors,
        retention_years=settings.record_retention_years,
        actor=principal.sub,
    )
    return BatchRunOut.model_validate(run, from_attributes=True)
