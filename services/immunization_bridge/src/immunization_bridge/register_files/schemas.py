from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from immunization_bridge.register_files.layout import ChangeKind


class RegisterFileRunOut(BaseModel):
    """A file's run record: counts and checksum, never the children it names."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    filename: str
    sha256: str
    size_bytes: int
    changes: int
    counts: dict[str, int]
    substituted_characters: int
    built_by: str
    built_at: datetime
    deliveries: int
    last_delivered_at: datetime | None


class RegisterChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    change: ChangeKind
    person_no: str
    effective_date: date


class RegisterFileRunDetailOut(RegisterFileRunOut):
    """The run record with the changes that went into the file, in file order."""

    changes_in_file: list[RegisterChangeOut]


class RegisterFileRunPageOut(BaseModel):
    items: list[RegisterFileRunOut]
    # Pass as `before` for the next (older) page; null on the last page.
    next_before: int | None
