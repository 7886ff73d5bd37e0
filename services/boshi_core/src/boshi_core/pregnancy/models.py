from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from boshi_core.rules.models import RuleVersionColumns
from mch_common.db import Base
from mch_common.ids import uuid7

OPEN_PREGNANCY_INDEX = "uq_pregnancies_open_person"


class Pregnancy(Base):
    """One pregnancy, opened by a notification at a ward window or online; closed by its outcome."""

    __tablename__ = "pregnancies"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    person_no: Mapped[str] = mapped_column(ForeignKey("people.person_no"), index=True)
    ward_code: Mapped[str] = mapped_column(String(6), index=True)
    channel: Mapped[str] = mapped_column(String(10))  # window | online
    external_ref: Mapped[str | None] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | closed
    outcome: Mapped[str | None] = mapped_column(String(20))
    outcome_date: Mapped[date | None] = mapped_column(Date)
    outcome_note: Mapped[str | None] = mapped_column(Text)
    notified_on: Mapped[date] = mapped_column(Date)
    # Form part (届出書)
    name: Mapped[str] = mapped_column(String(200))
    name_kana: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[date] = mapped_column(Date)
    age_at_notification: Mapped[int] = mapped_column(SmallInteger)
    occupation: Mapped[str | None] = mapped_column(String(100))
    residence: Mapped[str] = mapped_column(String(300))
    nationality: Mapped[str] = mapped_column(String(100))
    weeks_at_notification: Mapped[int] = mapped_column(SmallInteger)
    expected_delivery_date: Mapped[date] = mapped_column(Date)
    expected_children: Mapped[int] = mapped_column(SmallInteger)
    diagnosed_by: Mapped[str] = mapped_column(String(200))
    std_tested: Mapped[bool] = mapped_column(Boolean)
    tb_tested: Mapped[bool] = mapped_column(Boolean)
    notifier_name: Mapped[str] = mapped_column(String(200))
    # Supplementary part (補記)
    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_address: Mapped[str | None] = mapped_column(String(300))
    contact_phone: Mapped[str | None] = mapped_column(String(30))
    contact_email: Mapped[str | None] = mapped_column(String(200))
    application_date: Mapped[date] = mapped_column(Date)
    collection_ward_code: Mapped[str] = mapped_column(String(6))
    # Identity verification (本人確認)
    id_document_type: Mapped[str] = mapped_column(String(30))
    id_checked_by: Mapped[str] = mapped_column(String(100))
    id_checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint("channel IN ('window', 'online')", name="channel"),
        CheckConstraint("status IN ('open', 'closed')", name="status"),
        CheckConstraint("expected_children BETWEEN 1 AND 5", name="expected_children"),
        # One open pregnancy per person, held by the database even under concurrent intake.
        Index(
            OPEN_PREGNANCY_INDEX,
            "person_no",
            unique=True,
            postgresql_where=text("status = 'open'"),
        ),
    )


class ExpectedChildrenChange(Base):
    """A change of a pregnancy's expected number of children (one found to be twins, say):
    who changed it, when and why. The history is kept; the pregnancy holds the current count."""

    __tablename__ = "expected_children_changes"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    pregnancy_id: Mapped[UUID] = mapped_column(ForeignKey("pregnancies.id"), index=True)
    previous: Mapped[int] = mapped_column(SmallInteger)
    expected_children: Mapped[int] = mapped_column(SmallInteger)
    reason: Mapped[str] = mapped_column(Text)
    changed_by: Mapped[str] = mapped_column(String(100))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class HandbookSerial(Base):
    """Last serial used per fiscal year and ward; the row lock makes numbering gapless."""

    __tablename__ = "handbook_serials"

    fiscal_year: Mapped[int] = mapped_column(Integer, primary_key=True)
    ward_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    last_serial: Mapped[int] = mapped_column(Integer)


class Handbook(Base):
    """母子健康手帳: one per expected child."""

    __tablename__ = "handbooks"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    handbook_no: Mapped[str] = mapped_column(String(20), unique=True)
    pregnancy_id: Mapped[UUID] = mapped_column(ForeignKey("pregnancies.id"), index=True)
    child_index: Mapped[int] = mapped_column(SmallInteger)
    fiscal_year: Mapped[int] = mapped_column(Integer)
    ward_code: Mapped[str] = mapped_column(String(6))
    serial: Mapped[int] = mapped_column(Integer)
    issued_on: Mapped[date] = mapped_column(Date)
    issued_by: Mapped[str] = mapped_column(String(100))

    __table_args__ = (
        UniqueConstraint("pregnancy_id", "child_index"),
        UniqueConstraint("fiscal_year", "ward_code", "serial"),
    )


class VoucherRule(RuleVersionColumns, Base):
    """How many prenatal checkup vouchers (受診券) to issue, by effective date."""

    __tablename__ = "voucher_rules"

    effective_from: Mapped[date] = mapped_column(Date, primary_key=True)
    base_count: Mapped[int] = mapped_column(SmallInteger)
    extra_for_multiple: Mapped[int] = mapped_column(SmallInteger)
    source: Mapped[str] = mapped_column(Text)


class PrenatalVoucher(Base):
    __tablename__ = "prenatal_vouchers"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    voucher_no: Mapped[str] = mapped_column(String(30), unique=True)
    pregnancy_id: Mapped[UUID] = mapped_column(ForeignKey("pregnancies.id"), index=True)
    handbook_id: Mapped[UUID] = mapped_column(ForeignKey("handbooks.id"))
    seq: Mapped[int] = mapped_column(SmallInteger)
    # A voucher pays for one checkup: the unique key refuses a second use.
    used_by_checkup_id: Mapped[UUID | None] = mapped_column(unique=True)
    used_on: Mapped[date | None] = mapped_column(Date)


class RiskRuleSet(RuleVersionColumns, Base):
    """The prenatal risk rules as versioned JSON, chosen by the checkup date."""

    __tablename__ = "risk_rule_sets"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    effective_from: Mapped[date] = mapped_column(Date, unique=True)
    rules: Mapped[dict[str, Any]] = mapped_column(JSONB)
    source: Mapped[str] = mapped_column(Text)


class PrenatalCheckup(Base):
    __tablename__ = "prenatal_checkups"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    pregnancy_id: Mapped[UUID] = mapped_column(ForeignKey("pregnancies.id"), index=True)
    checkup_date: Mapped[date] = mapped_column(Date)
    gestational_weeks: Mapped[int] = mapped_column(SmallInteger)
    institution: Mapped[str | None] = mapped_column(String(200))
    systolic_bp: Mapped[int | None] = mapped_column(SmallInteger)
    diastolic_bp: Mapped[int | None] = mapped_column(SmallInteger)
    urine_protein: Mapped[str | None] = mapped_column(String(4))
    urine_sugar: Mapped[str | None] = mapped_column(String(4))
    weight_kg: Mapped[Decimal | None] = mapped_column(Numeric(5, 1))
    oedema: Mapped[str | None] = mapped_column(String(4))
    findings: Mapped[str | None] = mapped_column(Text)
    referral: Mapped[str | None] = mapped_column(Text)
    voucher_id: Mapped[UUID | None] = mapped_column(ForeignKey("prenatal_vouchers.id"))
    risk_flags: Mapped[list[str]] = mapped_column(JSONB)
    risk_rules_version: Mapped[int] = mapped_column(Integer)
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
