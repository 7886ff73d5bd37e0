from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, DateTime, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base


class Person(Base):
    """A person as atena last described them (宛名). No My Number is ever stored here."""

    __tablename__ = "people"

    person_no: Mapped[str] = mapped_column(String(10), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    residence_status: Mapped[str] = mapped_column(String(20))
    family_name: Mapped[str] = mapped_column(String(100))
    given_name: Mapped[str] = mapped_column(String(100))
    family_name_kana: Mapped[str | None] = mapped_column(String(100))
    given_name_kana: Mapped[str | None] = mapped_column(String(100))
    sex: Mapped[str | None] = mapped_column(String(10))
    birth_date: Mapped[date | None] = mapped_column(Date, index=True)
    death_date: Mapped[date | None] = mapped_column(Date)
    municipality_code: Mapped[str | None] = mapped_column(String(6))
    ward_code: Mapped[str | None] = mapped_column(String(6), index=True)
    address: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # atena's delivery addresses (送付先): where letters go, by purpose and validity.
    delivery_addresses: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, server_default="[]", default=list
    )
    household_no: Mapped[str | None] = mapped_column(String(20))
    phone: Mapped[str | None] = mapped_column(String(30))
    email: Mapped[str | None] = mapped_column(String(200))
    mother_person_no: Mapped[str | None] = mapped_column(String(10), index=True)
    last_event_type: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    @property
    def full_name(self) -> str:
        return f"{self.family_name} {self.given_name}"
