from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base
from mch_common.ids import uuid7

STATUSES = ("submitted", "returned", "accepted", "deleted")


class Application(Base):
    """One application (申請) through all its versions. Staff change only its status; the form
    changes only by the applicant's newly signed version (補正). A deletion by the office
    (職権削除) keeps this row, scrubbed of personal data, for the operation log."""

    __tablename__ = "applications"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    receipt_no: Mapped[str] = mapped_column(String(20), unique=True)
    procedure_code: Mapped[str] = mapped_column(String(40))
    procedure_version: Mapped[int] = mapped_column(Integer)
    department: Mapped[str] = mapped_column(String(100))
    ward_code: Mapped[str] = mapped_column(String(6))
    channel: Mapped[str] = mapped_column(String(10))  # city_form | portal
    status: Mapped[str] = mapped_column(String(10), default="submitted")
    # The card of the signer (both of its certificates name it): only its holder may correct.
    card_id: Mapped[str | None] = mapped_column(String(64), index=True)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    purpose: Mapped[str] = mapped_column(Text)  # what the applicant was shown (利用目的)
    notice_email: Mapped[str | None] = mapped_column(String(200))
    person_no: Mapped[str | None] = mapped_column(String(10), index=True)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(100))
    return_reason: Mapped[str | None] = mapped_column(Text)
    retain_until: Mapped[date] = mapped_column(Date)
    handed_over_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_by: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES!r}", name="status"),
        CheckConstraint("channel IN ('city_form', 'portal')", name="channel"),
        Index("ix_applications_extraction", "department", "status", "submitted_at"),
    )


class ApplicationVersion(Base):
    """One signed version as it arrived: the package byte for byte (sealed: it holds the My
    Number), its digest, the form as read from it (without the My Number) and every check's
    outcome."""

    __tablename__ = "application_versions"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    application_id: Mapped[UUID] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    version_no: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(10))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    form: Mapped[dict[str, Any]] = mapped_column(JSONB)
    checks: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    authority: Mapped[str] = mapped_column(String(200))
    certificate_serial: Mapped[str] = mapped_column(String(64))
    package_sha256: Mapped[str] = mapped_column(String(64))
    package_key_id: Mapped[str] = mapped_column(String(64))
    package_sealed: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (UniqueConstraint("application_id", "version_no"),)


class ApplicationMyNumber(Base):
    """The My Number of the application, apart from the form, AES-256-GCM encrypted (bound to
    the application id)."""

    __tablename__ = "application_my_numbers"

    application_id: Mapped[UUID] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), primary_key=True
    )
    key_id: Mapped[str] = mapped_column(String(64))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)


class ApplicationHistory(Base):
    """What happened to an application, by whom: no form content, so it outlives a deletion."""

    __tablename__ = "application_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[UUID] = mapped_column(ForeignKey("applications.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(30))
    version_no: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
