from datetime import date, datetime

from sqlalchemy import Date, DateTime, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base


class Child(Base):
    """A child under the schedule's age limit as atena last described them (no My Number).
    Not `children`: that is boshi_core's births table, and every service's models share
    mch_common's one declarative registry (a process may import two services)."""

    __tablename__ = "child_register"

    person_no: Mapped[str] = mapped_column(String(10), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    residence_status: Mapped[str] = mapped_column(String(20))
    family_name: Mapped[str] = mapped_column(String(100))
    given_name: Mapped[str] = mapped_column(String(100))
    family_name_kana: Mapped[str | None] = mapped_column(String(100))
    given_name_kana: Mapped[str | None] = mapped_column(String(100))
    sex: Mapped[str | None] = mapped_column(String(10))
    birth_date: Mapped[date] = mapped_column(Date)
    death_date: Mapped[date | None] = mapped_column(Date)
    ward_code: Mapped[str | None] = mapped_column(String(6), index=True)
    last_event_type: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    @property
    def resident(self) -> bool:
        return self.residence_status == "resident"
