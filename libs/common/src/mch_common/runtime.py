"""The lifespan every service shares: engine, sessions, NATS, its stream, the outbox relay,
its consumers, JWT verification and revocation, readiness checks. Made in lifespan, never at
import time; stopped in reverse order on shutdown."""

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mch_common.audit import AuditSealer
from mch_common.audit_anchor import AuditAnchors
from mch_common.auth.jwt import JWKSVerifier
from mch_common.auth.revocation import RevocationList
from mch_common.auth.verifier import TokenVerifier
from mch_common.db import create_engine, session_factory
from mch_common.events.bus import EventBus
from mch_common.events.consumer import EventConsumer
from mch_common.events.relay import OutboxRelay, published_events_cleanup
from mch_common.idempotency import expired_keys_cleanup
from mch_common.logs import configure_logging
from mch_common.settings import ServiceSettings
from mch_common.web import database_check, nats_check

log = logging.getLogger("mch.runtime")
# How long shutdown waits for the audit sealer's round and its final anchor.
SHUTDOWN_WAIT = 10.0


@dataclass
class Runtime:
    """What a running service holds; kept on `app.state.runtime`."""

    settings: ServiceSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    bus: EventBus
    relay: OutboxRelay
    # Where the sealer publishes the audit chain head and the verifier reads it back.
    anchors: AuditAnchors
    consumers: list[EventConsumer] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # Filled from identity's revocation events; the verifier refuses what it lists.
    revocations: RevocationList = field(default_factory=RevocationList)


ConsumerFactory = Callable[[Runtime], Sequence[EventConsumer]]
VerifierFactory = Callable[[Runtime], TokenVerifier]


def jwks_verifier(runtime: Runtime) -> TokenVerifier:
    """The default: identity's tokens checked against its published JWKS."""
    settings = runtime.settings
    return JWKSVerifier(
        settings.jwks_url,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        revocations=runtime.revocations,
    )


def service_lifespan(
    settings: ServiceSettings,
    *,
    stream_service: str,
    stream_max_age: timedelta | None = None,
    consumers: ConsumerFactory | None = None,
    verifier: VerifierFactory = jwks_verifier,
    configure_logs: bool = True,
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """Build a FastAPI lifespan for a service emitting events on `<stream_service>.>`.
    `verifier` builds the token verifier `require_scope` uses (`app.state.verifier`)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if configure_logs:
            configure_logging(settings.service_name, settings.log_level)
        engine = create_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            pre_ping=settings.db_pool_pre_ping,
            ping_after_idle=settings.db_pool_ping_after_idle,
        )
        bus = await EventBus.connect(
            settings.nats_url,
            namespace=settings.event_namespace,
            name=settings.service_name,
            user=settings.nats_user,
            password=settings.nats_password,
            stream_replicas=settings.stream_replicas,
        )
        await bus.ensure_stream(stream_service, max_age=stream_max_age)
        anchors = AuditAnchors(bus, settings.service_name)
        await anchors.ensure_stream()
        runtime = Runtime(
            settings=settings,
            engine=engine,
            sessions=session_factory(engine),
            bus=bus,
            relay=OutboxRelay(engine, bus.nc, bus.naming),
            anchors=anchors,
        )
        app.state.runtime = runtime
        app.state.sessions = runtime.sessions
        app.state.settings = settings
        app.state.readiness_checks = {
            "database": database_check(engine),
            "nats": nats_check(bus.nc),
        }

        from mch_common.auth.setup import start_auth, stop_auth

        await start_auth(app, bus, verifier=verifier(runtime), revocations=runtime.revocations)
        runtime.tasks.append(asyncio.create_task(runtime.relay.run(), name="outbox-relay"))
        sealer = AuditSealer(engine, anchors=anchors)
        sealing = asyncio.create_task(sealer.run(), name="audit-sealer")
        for cleanup in (
            expired_keys_cleanup(engine),
            published_events_cleanup(engine, keep=timedelta(hours=settings.outbox_keep_hours)),
        ):
            runtime.tasks.append(asyncio.create_task(cleanup.run_forever(), name=cleanup.name))
        if consumers is not None:
            for consumer in consumers(runtime):
                await consumer.start()
                runtime.consumers.append(consumer)
                runtime.tasks.append(
                    asyncio.create_task(consumer.run(), name=f"consumer-{consumer.name}")
                )
        # Everything made so far lives as long as the process: keep it out of the collector's
        # full passes, which otherwise pause the event loop for tens of milliseconds.
        gc.freeze()
        # A request makes and drops some thousands of objects, nearly all freed by their
        # reference counts; a young-generation pass every 700 of them found next to nothing
        # and cost a write 3-19 % of its CPU (docs/benchmarks.md, issue 18).
        gc.set_threshold(10_000, 10, 10)
        log.info("%s started", settings.service_name)
        try:
            yield
        finally:
            runtime.relay.stop()
            sealer.stop()
            for consumer in runtime.consumers:
                await consumer.close()
            for task in runtime.tasks:
                task.cancel()
            await asyncio.gather(*runtime.tasks, return_exceptions=True)
            # The sealer ends its round rather than being cancelled in it: a round cancelled
            # mid-transaction could leave its connection holding the chain's lock, which the
            # final anchor then waits for. Neither waits past SHUTDOWN_WAIT (the next start
            # seals and anchors what is left).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sealing, SHUTDOWN_WAIT)
            try:
                await asyncio.wait_for(sealer.finish(), SHUTDOWN_WAIT)
            except TimeoutError:
                log.warning(
                    "audit sealer's last round took over %g s; left to the next start",
                    SHUTDOWN_WAIT,
                )
            await stop_auth(app)
            await bus.close()
            await engine.dispose()
            log.info("%s stopped", settings.service_name)

    return lifespan
