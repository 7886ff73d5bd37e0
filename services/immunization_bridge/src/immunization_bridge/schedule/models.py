from datetime import date

from sqlalchemy import Date, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base


class ScheduleRule(Base):
    """One dose of the routine schedule in force from `effective_from` to the day before
    `effective_to` (null: still in force), with the rule's source. Rows are data: a change of
    the schedule is a migration that closes a row and adds its successor, never an edit."""

    __tablename__ = "schedule_rules"
    __table_args__ = (UniqueConstraint("vaccine", "dose_no", "effective_from"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # also the display order
    version: Mapped[str] = mapped_column(String(20))
    vaccine: Mapped[str] = mapped_column(String(30))
    vaccine_name: Mapped[str] = mapped_column(String(60))
    dose_no: Mapped[int] = mapped_column(Integer)
    basis: Mapped[str] = mapped_column(String(20))
    start_months: Mapped[int] = mapped_column(Integer)
    start_days: Mapped[int] = mapped_column(Integer)
    end_months: Mapped[int] = mapped_column(Integer)
    end_days: Mapped[int] = mapped_column(Integer)
    overdue_months: Mapped[int | None] = mapped_column(Integer)
    overdue_days: Mapped[int | None] = mapped_column(Integer)
    interval_from_dose: Mapped[int | None] = mapped_column(Integer)
    interval_months: Mapped[int] = mapped_column(Integer)
    interval_days: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(Text)
