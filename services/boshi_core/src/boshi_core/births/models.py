from datetime import date, datetime, time
from uuid import UUID

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    Text,
    Time,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base
from mch_common.ids import uuid7


class Child(Base):
    """A child born of a pregnancy, linked to atena's person by atena.person.born."""

    __tablename__ = "children"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    person_no: Mapped[str | None] = mapped_column(String(10), unique=True)
    mother_person_no: Mapped[str] = mapped_column(String(10), index=True)
    pregnancy_id: Mapped[UUID | None] = mapped_column(ForeignKey("pregnancies.id"), index=True)
    birth_date: Mapped[date] = mapped_column(Date)
    birth_time: Mapped[time | None] = mapped_column(Time)
    sex: Mapped[str | None] = mapped_column(String(10))
    birth_weight_g: Mapped[int | None] = mapped_column(Integer)
    gestational_weeks: Mapped[int | None] = mapped_column(SmallInteger)
    gestational_days: Mapped[int | None] = mapped_column(SmallInteger)
    birth_attendant: Mapped[str | None] = mapped_column(String(20))  # doctor | midwife | other
    birth_place: Mapped[str | None] = mapped_column(String(200))
    ward_code: Mapped[str | None] = mapped_column(String(6), index=True)
    registered_via: Mapped[str] = mapped_column(String(20))  # outcome | atena_born
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LowBirthWeightNotification(Base):
    """低体重児の届出 (MCH Act art. 18): birth weight under the threshold (2,500 g since 1966)."""

    __tablename__ = "low_birth_weight_notifications"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    child_id: Mapped[UUID] = mapped_column(ForeignKey("children.id"), unique=True)
    notified_on: Mapped[date] = mapped_column(Date)
    notifier_name: Mapped[str] = mapped_column(String(200))
    whereabouts: Mapped[str] = mapped_column(String(300))  # where the infant is now
    contact_phone: Mapped[str | None] = mapped_column(String(30))
    birth_date: Mapped[date] = mapped_column(Date)
    birth_time: Mapped[time | None] = mapped_column(Time)
    birth_place: Mapped[str] = mapped_column(String(200))
    sex: Mapped[str] = mapped_column(String(10))
    birth_weight_g: Mapped[int] = mapped_column(Integer)
    gestational_weeks: Mapped[int] = mapped_column(SmallInteger)
    mother_person_no: Mapped[str] = mapped_column(String(10))
    birth_attendant: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    # Under the threshold of the birth rule in force on the birth date: checked by the service,
    # since the threshold is data (boshi_core.rules).
    __table_args__ = (CheckConstraint("birth_weight_g > 0", name="positive_weight"),)
