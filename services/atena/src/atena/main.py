"""The address registry's app: `uvicorn --factory atena.main:create_app`."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI

from atena.config import Settings
from atena.disclosure.router import router as disclosure_router
from atena.mynumber.router import router as my_number_router
from atena.network.client import ims_client
from atena.network.service import obtain_network_codes
from atena.persons.router import router as persons_router
from mch_common.audit_api import audit_router
from mch_common.runtime import service_lifespan
from mch_common.web import create_service_app

log = logging.getLogger("atena.network")


async def _obtain_codes_periodically(app: FastAPI, settings: Settings) -> None:
    """Registrations with a My Number obtain their 符号 within seconds (atena.network)."""
    async with ims_client(settings) as ims:
        while True:
            try:
                run = await obtain_network_codes(app.state.sessions, settings.vault, ims)
                if run.obtained or run.failed:
                    log.info("network codes", extra={"fields": run.__dict__})
            except Exception:
                log.exception("obtaining network codes failed")
            await asyncio.sleep(settings.network_code_seconds)


def _lifespan(
    settings: Settings, *, obtain_codes: bool
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    platform = service_lifespan(settings, stream_service="atena")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with platform(app):
            task = None
            if obtain_codes and settings.intermediate_server_url:
                task = asyncio.create_task(
                    _obtain_codes_periodically(app, settings), name="network-codes"
                )
            try:
                yield
            finally:
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

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
