"""Annotated dependency aliases and the scopes of the immunization bridge."""

from typing import Annotated

from fastapi import Depends, Header

from mch_common.auth.deps import require_scope
from mch_common.auth.principal import Principal

RECORD_IMPORT = "immunization:record:import"
STATUS_READ = "immunization:status:read"
DISCLOSURE_EXPORT = "immunization:disclosure:export"
AUDIT_READ = "immunization:audit:read"
REGISTER_FILE_EXPORT = "immunization:register_file:export"

RecordImporter = Annotated[Principal, require_scope(RECORD_IMPORT)]
StatusReader = Annotated[Principal, require_scope(STATUS_READ)]
DisclosureExporter = Annotated[Principal, require_scope(DISCLOSURE_EXPORT)]
RegisterFileExporter = Annotated[Principal, require_scope(REGISTER_FILE_EXPORT)]

DEFAULT_PURPOSE = "予防接種法に基づく定期接種事務 (routine immunization affairs)"


async def _purpose(
    x_access_purpose: Annotated[str | None, Header(max_length=200)] = None,
) -> str:
    return x_access_purpose or DEFAULT_PURPOSE


Purpose = Annotated[str, Depends(_purpose)]
