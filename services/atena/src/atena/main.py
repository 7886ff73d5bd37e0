"""The address registry's app: `uvicorn --factory atena.main:create_app`."""

from fastapi import FastAPI

from atena.config import Settings
from atena.disclosure.router import router as disclosure_router
from atena.mynumber.router import router as my_number_router
from atena.persons.router import router as persons_router
from mch_common.audit_api import audit_router
from mch_common.runtime import service_lifespan
from mch_common.web import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
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
        lifespan=service_lifespan(settings, stream_service="atena"),
        routers=[
            persons_router,
            my_number_router,
            disclosure_router,
            audit_router(read_scope="atena:audit:read"),
        ],
        person_params={"person_no": "person", "household_no": "household"},
    )
