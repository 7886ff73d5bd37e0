"""Annotated dependency aliases for boshi_core's routers."""

from typing import Annotated

from fastapi import Depends, Request

from boshi_core.config import Settings
from boshi_core.immunization.client import ImmunizationClient
from boshi_core.people.atena import AtenaClient
from boshi_core.platform_disclosure.sources import DisclosureSources
from mch_common.auth.deps import require_any_scope, require_scope
from mch_common.auth.principal import Principal

PregnancyReader = Annotated[Principal, require_scope("boshi:pregnancy:read")]
PregnancyWriter = Annotated[Principal, require_scope("boshi:pregnancy:write")]
VisitReader = Annotated[Principal, require_scope("boshi:visit:read")]
VisitWriter = Annotated[Principal, require_scope("boshi:visit:write")]
DisclosureExporter = Annotated[Principal, require_scope("boshi:disclosure:export")]
RequestReader = Annotated[Principal, require_scope("boshi:requests:read")]
RequestWriter = Annotated[Principal, require_scope("boshi:requests:write")]
RetentionAdmin = Annotated[Principal, require_scope("boshi:retention:admin")]
RULES_ADMIN = "boshi:rules:admin"
RulesAdmin = Annotated[Principal, require_scope(RULES_ADMIN)]
# Every MCH reader may see the rules their work is judged by.
RulesReader = Annotated[
    Principal,
    require_any_scope(
        RULES_ADMIN, "boshi:pregnancy:read", "boshi:visit:read", "boshi:checkup:read"
    ),
]


# async: FastAPI runs a plain `def` dependency in a worker thread, a thread hop per request.
async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _atena(request: Request) -> AtenaClient:
    client: AtenaClient = request.app.state.atena
    return client


async def _disclosure_sources(request: Request) -> DisclosureSources:
    sources: DisclosureSources = request.app.state.disclosure_sources
    return sources


AppSettings = Annotated[Settings, Depends(_settings)]
Sources = Annotated[DisclosureSources, Depends(_disclosure_sources)]
Atena = Annotated[AtenaClient, Depends(_atena)]


async def _immunization(request: Request) -> ImmunizationClient:
    client: ImmunizationClient = request.app.state.immunization
    return client


Immunization = Annotated[ImmunizationClient, Depends(_immunization)]
