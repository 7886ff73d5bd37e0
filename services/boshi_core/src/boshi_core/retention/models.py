from datetime import date, datetime
from uuid import UUID

from sqlalchemy import Date, DateTime, SmallInteger, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from boshi_core.constraints import one_of
from boshi_core.retention.schemas import RetainedType
from mch_common.db import Base
from mch_common.ids import uuid7


class RetentionRule(Base):
    """How long a record type is kept, from which day (a version per effective date)."""

    __tablename__ = "retention_rules"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    record_type: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(SmallInteger)
    effective_from: Mapped[date] = mapped_column(Date)
    years: Mapped[int] = mapped_column(SmallInteger)
    counted_from: Mapped[str] = mapped_column(Text)  # which day the period runs from
    source: Mapped[str] = mapped_column(Text)
    to_confirm: Mapped[bool]

    __table_args__ = (
        UniqueConstraint("record_type", "version"),
        one_of("record_type", RetainedType),
    )


class Disposal(Base):
    """A record disposed of (職権削除): what, whose, under which rule, by whom and why. The
    record's data is gone; this row and the access log stay."""

    __tablename__ = "disposals"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[UUID] = mapped_column(unique=True)
    person_no: Mapped[str | None] = mapped_column(String(10), index=True)
    rule_version: Mapped[int] = mapped_column(SmallInteger)
    disposed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    disposed_by: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
