from datetime import date

from pydantic import BaseModel

from immunization_bridge.schedule.rules import DoseState


class DoseStatusOut(BaseModel):
    vaccine: str
    dose_no: int
    status: DoseState
    window_start: date | None  # null while the earlier dose it waits for is missing
    overdue_from: date | None
    last_day: date
    given_on: date | None


class RecordOut(BaseModel):
    record_id: str
    vaccine: str
    dose_no: int
    given_on: date
    lot: str | None
    institution_code: str | None


class ChildStatusOut(BaseModel):
    person_no: str
    birth_date: date
    residence_status: str
    on: date
    doses: list[DoseStatusOut]
    records: list[RecordOut]


class OverdueItemOut(BaseModel):
    person_no: str
    family_name: str
    given_name: str
    birth_date: date
    vaccine: str
    dose_no: int
    overdue_from: date
    last_day: date


class OverduePageOut(BaseModel):
    ward_code: str
    month: str | None
    items: list[OverdueItemOut]
    # Pass as `after` for the next page; null on the last page.
    next_after: str | None


class OverdueRunOut(BaseModel):
    on: date
    children: int
    overdue: int
    newly_overdue: int
    resolved: int
