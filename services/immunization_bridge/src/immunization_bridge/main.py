"""The immunization bridge's app: `python -m mch_common.serve --factory
immunization_bridge.main:create_app`."""

from collections.abc import Sequence

from fastapi import FastAPI

from immunization_bridge.children.consumer import atena_consumer
from immunization_bridge.config import SERVICE, STREAM, Settings
from immunization_bridge.deps import AUDIT_READ
from immunization_bridge.disclosure.router import router as disclosure_router
from immunization_bridge.records.router import router as records_router
from immunization_bridge.register_files.router import router as register_files_router
from immunization_bridge.status.router import router as status_router
from mch_common.audit_api import audit_router
from mch_common.events import EventConsumer
from mch_common.runtime import Runtime, service_lifespan
from mch_common.web import create_service_app


def _consumers(runtime: Runtime) -> Sequence[EventConsumer]:
    return [atena_consumer(runtime.bus, runtime.sessions)]


def create_app(settings: Settings | None = None, *, with_consumers: bool = True) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        service=SERVICE,
        title="immunization_bridge: the link to the immunization register (予防接種台帳システム)",
        description=(
            "The register's vaccination batch files in (CSV, UTF-8 or cp932), the routine "
            "schedule as versioned data, each child's dose statuses, the overdue list per ward "
            "and immunization.dose.overdue events; the child register from atena's events."
        ),
        lifespan=service_lifespan(
            settings, stream_service=STREAM, consumers=_consumers if with_consumers else None
        ),
        routers=[
            records_router,
            register_files_router,
            status_router,
            disclosure_router,
            audit_router(read_scope=AUDIT_READ),
        ],
    )
