from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Integer, LargeBinary, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base


class RegisterFileRun(Base):
    """One batch file for the register (files out) and its run record: the bytes are kept, so a
    lost file is delivered again byte for byte."""

    __tablename__ = "register_file_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    filename: Mapped[str] = mapped_column(String(100), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    changes: Mapped[int] = mapped_column(Integer)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONB)  # change kind -> lines
    # Characters of a name that cp932 cannot write, written as 〓 (the register's convention).
    substituted_characters: Mapped[int] = mapped_column(Integer)
    built_by: Mapped[str] = mapped_column(String(100))
    built_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    deliveries: Mapped[int] = mapped_column(Integer, default=0)
    last_delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RegisterChange(Base):
    """A change of a child under the schedule's age limit the register must learn of, taken
    from atena's event (once per event id) and waiting for a file until `run_id` is set."""

    __tablename__ = "register_changes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # the order of the file
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    change: Mapped[str] = mapped_column(String(20))  # atena's verb: born, moved_in, ...
    person_no: Mapped[str] = mapped_column(String(10), index=True)
    effective_date: Mapped[date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer)  # atena's snapshot version
    family_name: Mapped[str] = mapped_column(String(100))
    given_name: Mapped[str] = mapped_column(String(100))
    family_name_kana: Mapped[str | None] = mapped_column(String(100))
    given_name_kana: Mapped[str | None] = mapped_column(String(100))
    sex: Mapped[str | None] = mapped_column(String(10))
    birth_date: Mapped[date] = mapped_column(Date)
    death_date: Mapped[date | None] = mapped_column(Date)
    ward_code: Mapped[str | None] = mapped_column(String(6))
    # moved_in: the municipality left; moved_out: the one moved to.
    other_municipality_code: Mapped[str | None] = mapped_column(String(6))
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("register_file_runs.id"), index=True, default=None
    )
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
