from datetime import date

from sqlalchemy import Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base


class OverdueDose(Base):
    """A dose overdue at the last run of the overdue check (the monthly list per ward reads
    these); a dose leaves when given or when its window closes."""

    __tablename__ = "overdue_doses"

    person_no: Mapped[str] = mapped_column(String(10), primary_key=True)
    vaccine: Mapped[str] = mapped_column(String(30), primary_key=True)
    dose_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    ward_code: Mapped[str | None] = mapped_column(String(6), index=True)
    overdue_from: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
