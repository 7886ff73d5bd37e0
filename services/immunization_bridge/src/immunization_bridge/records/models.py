from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base


class ImportFile(Base):
    """One batch file from the register, once: its SHA-256 makes a re-import a no-op, and its
    id is the file order in which corrections and deletions apply."""

    __tablename__ = "import_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    encoding: Mapped[str] = mapped_column(String(20))
    imported_by: Mapped[str] = mapped_column(String(100))
    imported_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    lines: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    unknown_people: Mapped[int] = mapped_column(Integer)
    # The kept LineErrors (line, field, reason): never a value from the file.
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)


class VaccinationRecord(Base):
    """A vaccination as the register last described it (its record id is the register's). A
    deletion keeps the row, marked, so that a later file naming the id is told apart from a
    typo."""

    __tablename__ = "vaccination_records"

    record_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    person_no: Mapped[str] = mapped_column(String(10), index=True)
    vaccine: Mapped[str] = mapped_column(String(30))
    dose_no: Mapped[int] = mapped_column(Integer)
    given_on: Mapped[date] = mapped_column(Date)
    lot: Mapped[str | None] = mapped_column(String(20))
    institution_code: Mapped[str | None] = mapped_column(String(10))
    # Flagged, not refused: the child's atena event may not have arrived yet.
    person_known: Mapped[bool] = mapped_column(Boolean)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    file_id: Mapped[int] = mapped_column(Integer)  # the file that last changed it
    line_no: Mapped[int] = mapped_column(Integer)
