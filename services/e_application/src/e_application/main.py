"""The e-application service's app: `python -m mch_common.serve --factory
e_application.main:create_app`."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI

from e_application.applicant.router import router as applicant_router
from e_application.applications.router import router as submission_router
from e_application.config import SERVICE, STREAM, Settings
from e_application.deps import AUDIT_READ, intake_of
from e_application.disclosure.router import router as disclosure_router
from e_application.handover.atena import LOOKUP_SCOPE, AtenaClient
from e_application.handover.router import router as handover_router
from e_application.notices.sender import NOTICES, send_pending
from e_application.procedures.router import router as procedures_router
from e_application.retention.router import router as retention_router
from e_application.review.router import router as review_router
from mch_common.audit_api import audit_router
from mch_common.auth.client import service_http
from mch_common.jobs import PeriodicJob, cancelled
from mch_common.runtime import service_lifespan
from mch_common.web import create_service_app

log = logging.getLogger("e_application")
# A refusal on these path parameters is recorded (mch_common.refusals).
PERSON_PARAMS = {"person_no": "person", "application_id": "application"}


def _notice_sender(app: FastAPI, settings: Settings) -> PeriodicJob:
    """Result notices go out once the decision that wrote them commits (it wakes the job), and
    every `notice_interval_seconds` those a failure left pending (e_application.notices)."""

    async def send() -> None:
        await send_pending(
            app.state.sessions,
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.notice_from,
        )

    return PeriodicJob(NOTICES, send, every=settings.notice_interval_seconds, wait_first=True)


def _lifespan(
    settings: Settings,
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    platform = service_lifespan(settings, stream_service=STREAM)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.intake = intake_of(settings)  # fails at start if keys or trust are bad
        async with (
            platform(app),
            service_http(
                settings,
                LOOKUP_SCOPE,
                base_url=settings.atena_url,
                timeout=settings.atena_timeout_seconds,
            ) as http,
        ):
            # Tests may have put an atena client of their own here before startup.
            if not isinstance(getattr(app.state, "atena", None), AtenaClient):
                app.state.atena = AtenaClient(http)
            sender = (
                asyncio.create_task(_notice_sender(app, settings).run_forever(), name=NOTICES)
                if settings.notice_interval_seconds > 0
                else None
            )
            try:
                yield
            finally:
                if sender is not None:
                    await cancelled(sender)

    return lifespan


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        service=SERVICE,
        title="e_application: the signed online pregnancy notification (北九州市電子申請サービス)",
        description=(
            "Signed applications (JPKI-style signature over RFC 8785 canonical JSON) from the "
            "city's form and the national portal, verified against the trusted CAs and their "
            "CRLs and compared with the certificate's four facts; applicant sign-in with the "
            "user-authentication certificate and applicant-only correction with history; staff "
            "review by department and ward, print, acceptance with atena's My Number lookup, "
            "the hand-over export boshi_core pulls, e-mail result notices and retention."
        ),
        lifespan=_lifespan(settings),
        routers=[
            procedures_router,
            submission_router,
            applicant_router,
            review_router,
            retention_router,
            handover_router,
            disclosure_router,
            audit_router(read_scope=AUDIT_READ),
        ],
        person_params=PERSON_PARAMS,
    )
