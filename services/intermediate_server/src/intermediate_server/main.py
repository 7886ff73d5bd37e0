"""The intermediate server's app: `python -m mch_common.serve --factory
intermediate_server.main:create_app`."""

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

from intermediate_server.admin.router import router as admin_router
from intermediate_server.codes.router import router as codes_router
from intermediate_server.codes.service import person_key
from intermediate_server.config import STREAM, Settings
from intermediate_server.deps import AUDIT_READ, system_session
from intermediate_server.disclosure.router import router as disclosure_router
from intermediate_server.exchange.router import router as exchange_router
from intermediate_server.records.router import router as records_router
from intermediate_server.replica.consumer import boshi_consumer
from intermediate_server.replica.router import router as replica_router
from mch_common.audit_api import audit_router
from mch_common.db import create_engine, session_factory
from mch_common.events import EventConsumer
from mch_common.routes import ServiceRouter
from mch_common.runtime import Runtime, service_lifespan
from mch_common.web import create_service_app


def _consumers(runtime: Runtime) -> Sequence[EventConsumer]:
    return [boshi_consumer(runtime.bus, runtime.sessions)]


def _audit_router() -> APIRouter:
    """The shared audit endpoints, each request's transaction walled like system
    management's: a municipality's auditor reads its own records, the platform operator
    every one (the log's row-level security); the verifier always walks the whole chain."""
    walled = ServiceRouter(dependencies=[Depends(system_session)])
    walled.include_router(audit_router(read_scope=AUDIT_READ))
    return walled


def _with_network_pool(
    settings: Settings,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The hub's and the provider's transactions take their connections from a pool of their
    own (`app.state.network_sessions`): an inquiry holds the requester's connection while they
    run, and on one pool, requesters holding every connection would wait for each other."""

    @asynccontextmanager
    async def with_pool(app: FastAPI) -> AsyncIterator[None]:
        async with lifespan(app):
            engine = create_engine(
                settings.database_url,
                pool_size=settings.network_pool,
                pre_ping=settings.db_pool_pre_ping,
                ping_after_idle=settings.db_pool_ping_after_idle,
            )
            app.state.network_sessions = session_factory(engine)
            try:
                yield
            finally:
                await engine.dispose()

    return with_pool


def create_app(settings: Settings | None = None, *, with_consumers: bool = True) -> FastAPI:
    settings = settings or Settings()
    app = create_service_app(
        service="intermediate_server",
        title="intermediate_server: the My Number network gateway (中間サーバー)",
        description=(
            "A platform shared by many municipalities (tenants, walled off by PostgreSQL "
            "row-level security): 符号 management, the replica (副本) of providable data, "
            "inquiries and provisions with permits from the simulated national hub, items held "
            "for staff (自動応答不可), provision records (情報提供等記録) and system management."
        ),
        lifespan=_with_network_pool(
            settings,
            service_lifespan(
                settings, stream_service=STREAM, consumers=_consumers if with_consumers else None
            ),
        ),
        routers=[
            codes_router,
            replica_router,
            exchange_router,
            records_router,
            disclosure_router,
            admin_router,
            _audit_router(),
        ],
    )
    # A refused request naming a person records her as the caller's municipality's.
    app.state.person_key = person_key
    return app
