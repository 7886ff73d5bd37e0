"""The procedures applicants can fill in (public: no personal data)."""

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict

from e_application.procedures import repository
from mch_common.dates import today_tokyo
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(prefix="/procedures", tags=["procedures"])


class ProcedureOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    version: int
    title: str
    effective_from: date
    effective_to: date | None
    department: str
    purpose: str
    retention_years: int
    fields: list[dict[str, Any]]
    rules: list[dict[str, Any]]
    my_number_required: bool


@router.get("", summary="Every procedure version, with its fields, rules and purpose statement")
async def list_procedures(session: Session) -> list[ProcedureOut]:
    return [ProcedureOut.model_validate(p) for p in await repository.all_versions(session)]


@router.get("/in-force", summary="The versions in force today (the forms to fill in)")
async def in_force(session: Session) -> list[ProcedureOut]:
    today = today_tokyo()
    codes = sorted({p.code for p in await repository.all_versions(session)})
    found = [await repository.in_force(session, code=c, on=today) for c in codes]
    return [ProcedureOut.model_validate(p) for p in found if p is not None]
