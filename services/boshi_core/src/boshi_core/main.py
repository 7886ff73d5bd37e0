"""boshi_core's app factory: `uvicorn --factory boshi_core.main:create_app`."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence

from fastapi import FastAPI

from boshi_core.births.router import router as births_router
from boshi_core.center.router import router as center_router
from boshi_core.checkups.router import router as checkups_router
from boshi_core.config import SERVICE, STREAM, Settings
from boshi_core.disclosure.router import router as disclosure_router
from boshi_core.immunization.client import STATUS_READ_SCOPE, ImmunizationClient
from boshi_core.inquiries.router import router as inquiries_router
from boshi_core.moving_in.ims import ImsClient
from boshi_core.moving_in.service import PREVIOUS_CITY, fetch_previous_city_records
from boshi_core.people.atena import AtenaClient
from boshi_core.people.consumer import atena_consumer
from boshi_core.people.router import router as people_router
from boshi_core.platform_disclosure.sources import DisclosureSources
from boshi_core.pregnancy.router import router as pregnancy_router
from boshi_core.requests.router import router as requests_router
from boshi_core.retention.router import router as retention_router
from boshi_core.rules.router import router as rules_router
from boshi_core.visits.router import records_router as visit_records_router
from boshi_core.visits.router import router as visits_router
from mch_common.audit_api import audit_router
from mch_common.auth.client import service_http
from mch_common.events import EventConsumer
from mch_common.jobs import PeriodicJob, cancelled
from mch_common.runtime import Runtime, service_lifespan
from mch_common.web import create_service_app

ATENA_LOOKUP_SCOPE = "atena:mynumber:lookup"
IMS_INQUIRE_SCOPE = "ims:inquire"
log = logging.getLogger("boshi_core.moving_in")
# The path parameters that name a person or a person's record: a refusal on them is recorded.
PERSON_PARAMS = {
    "person_no": "person",
    "child_id": "child",
    "pregnancy_id": "pregnancy",
    "case_id": "center_case",
    "plan_id": "support_plan",
    "visit_id": "visit",
    "notice_id": "reminder",
    "request_id": "personal_data_request",
}


def _consumers(runtime: Runtime) -> Sequence[EventConsumer]:
    return [atena_consumer(runtime.bus, runtime.sessions)]


def _lifespan(
    settings: Settings, *, with_consumers: bool
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    platform = service_lifespan(
        settings, stream_service=STREAM, consumers=_consumers if with_consumers else None
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with platform(app), contextlib.AsyncExitStack() as clients:
            # Each call goes out with boshi_core's own token for that call's scope alone.
            atena_http = await clients.enter_async_context(
                service_http(
                    settings,
                    ATENA_LOOKUP_SCOPE,
                    base_url=settings.atena_url,
                    timeout=settings.atena_timeout_seconds,
                )
            )
            bridge_http = await clients.enter_async_context(
                service_http(
                    settings,
                    STATUS_READ_SCOPE,
                    base_url=settings.immunization_url,
                    timeout=settings.immunization_timeout_seconds,
                )
            )
            # Tests may have put a fake atena, bridge or gateway here before startup.
            if not isinstance(getattr(app.state, "atena", None), AtenaClient):
                app.state.atena = AtenaClient(atena_http)
            if not isinstance(getattr(app.state, "immunization", None), ImmunizationClient):
                app.state.immunization = ImmunizationClient(bridge_http)
            app.state.disclosure_sources = DisclosureSources(settings)
            clients.push_async_callback(app.state.disclosure_sources.close)
            if settings.intermediate_server_url:
                ims_http = await clients.enter_async_context(
                    service_http(
                        settings,
                        IMS_INQUIRE_SCOPE,
                        base_url=settings.intermediate_server_url,
                        timeout=settings.ims_timeout_seconds,
                    )
                )
                if not isinstance(getattr(app.state, "ims", None), ImsClient):
                    app.state.ims = ImsClient(ims_http)
                if with_consumers:
                    fetcher = asyncio.create_task(
                        _previous_city_fetcher(app, settings).run_forever(), name=PREVIOUS_CITY
                    )
                    clients.push_async_callback(cancelled, fetcher)
            yield

    return lifespan


def _previous_city_fetcher(app: FastAPI, settings: Settings) -> PeriodicJob:
    """Send the move-in inquiries atena's events queued (moving_in): at once when the consumer
    commits one (it wakes the job), and every few seconds for those still waiting."""

    async def fetch() -> None:
        run = await fetch_previous_city_records(app.state.sessions, app.state.ims)
        if run.done or run.held or run.refused:
            log.info("previous city records fetched", extra={"fields": run.__dict__})

    return PeriodicJob(PREVIOUS_CITY, fetch, every=settings.previous_city_fetch_seconds)


def create_app(settings: Settings | None = None, *, with_consumers: bool = True) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        service=SERVICE,
        title="boshi_core: the MCH system (母子保健システム)",
        description="Pregnancy notifications, MCH handbooks, prenatal checkups, births, low "
        "birth weight notifications, home visits, infant checkups and their reminders, and the "
        "child and family center for Kitakyushu City.",
        lifespan=_lifespan(settings, with_consumers=with_consumers),
        routers=[
            people_router,
            pregnancy_router,
            births_router,
            visits_router,
            visit_records_router,
            disclosure_router,
            checkups_router,
            center_router,
            requests_router,
            inquiries_router,
            retention_router,
            rules_router,
            audit_router(read_scope="boshi:audit:read"),
        ],
        person_params=PERSON_PARAMS,
    )
