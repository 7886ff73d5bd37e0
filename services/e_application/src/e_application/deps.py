"""Annotated dependency aliases and the scopes of the e-application service."""

from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from e_application.applications.service import Intake
from e_application.config import Settings
from mch_common.auth.deps import require_scope
from mch_common.auth.principal import Principal

APPLICATION_READ = "eapp:application:read"
APPLICATION_REVIEW = "eapp:application:review"
RETENTION_DELETE = "eapp:retention:delete"
EXPORT_PULL = "eapp:export:pull"
PORTAL_DELIVER = "eapp:portal:deliver"
DISCLOSURE_EXPORT = "eapp:disclosure:export"
AUDIT_READ = "eapp:audit:read"
ALL_SCOPES = (
    APPLICATION_READ,
    APPLICATION_REVIEW,
    RETENTION_DELETE,
    EXPORT_PULL,
    PORTAL_DELIVER,
    DISCLOSURE_EXPORT,
)

Reader = Annotated[Principal, require_scope(APPLICATION_READ)]
Reviewer = Annotated[Principal, require_scope(APPLICATION_READ, APPLICATION_REVIEW)]
Deleter = Annotated[Principal, require_scope(APPLICATION_READ, RETENTION_DELETE)]
ExportPuller = Annotated[Principal, require_scope(EXPORT_PULL)]
PortalDeliverer = Annotated[Principal, require_scope(PORTAL_DELIVER)]
DisclosureExporter = Annotated[Principal, require_scope(DISCLOSURE_EXPORT)]


def intake_of(settings: Settings) -> Intake:
    return Intake(
        trust=settings.trust,
        sealer=settings.sealer,
        vault=settings.vault,
        max_signature_age=timedelta(days=settings.max_signature_age_days),
        tenant=settings.tenant,
    )


async def _intake(request: Request) -> Intake:
    intake: Intake = request.app.state.intake
    return intake


IntakeDep = Annotated[Intake, Depends(_intake)]


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]
