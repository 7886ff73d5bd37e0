"""The address registry's app: `uvicorn --factory atena.main:create_app`."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import httpx
from fastapi import FastAPI

from atena.config import Settings
from atena.disclosure.router import router as disclosure_router
from atena.mynumber.router import router as my_number_router
from atena.network.client import ims_client
from atena.network.service import NETWORK_CODES, obtain_network_codes
from atena.persons.router import router as persons_router
from mch_common.audit_api import audit_router
from mch_common.jobs import PeriodicJob, cancelled
from mch_common.runtime import service_lifespan
from mch_common.web import create_service_app

log = logging.getLogger("atena.network")


def _network_codes(app: FastAPI, settings: Settings, ims: httpx.AsyncClient) -> PeriodicJob:
    """Registrations with a My Number obtain their 符号 as soon as they commit (they wake the
    job), and in any case within `network_code_seconds` (atena.network)."""

    async def obtain() -> None:
        run = await obtain_network_codes(app.state.sessions, settings.vault, ims)
        if run.obtained or run.failed:
            log.info("network codes", extra={"fields": run.__dict__})

    return PeriodicJob(NETWORK_CODES, obtain, every=settings.network_code_seconds)


def _lifespan(
    settings: Settings, *, obtain_codes: bool
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    platform = service_lifespan(settings, stream_service="atena")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with platform(app), contextlib.AsyncExitStack() as stack:
            if obtain_codes and settings.intermediate_server_url:
                # Tests may have put a client of an in-process intermediate server here.
                ims: httpx.AsyncClient | None = getattr(app.state, "ims", None)
                if ims is None:
                    ims = await stack.enter_async_context(ims_client(settings))
                job = asyncio.create_task(
                    _network_codes(app, settings, ims).run_forever(), name=NETWORK_CODES
                )
                stack.push_async_callback(cancelled, job)
            yield

    return lifespan


def create_app(settings: Settings | None = None, *, obtain_codes: bool = True) -> FastAPI:
    settings = settings or Settings()
    settings.vault  # noqa: B018 - fail at start, not on the first request, if keys are bad
    return create_service_app(
        service="atena",
        title="atena: address registry (宛名管理システム)",
        description=(
            "Residents and registered non-residents: the four basic facts, kana, households, "
            "delivery addresses, the person number and the encrypted My Number, with history "
            "and change events (atena.person.*)."
        ),
        lifespan=_lifespan(settings, obtain_codes=obtain_codes),
        routers=[
            persons_router,
            my_number_router,
            disclosure_router,
            audit_router(read_scope="atena:audit:read"),
        ],
        person_params={"person_no": "person", "household_no": "household"},
    )
