"""Inquiries (requester side), held provisions and honoured permits (provider side), and the
gateway's copy of the permission list."""

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import CHAR, Date, DateTime, Integer, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base


class Inquiry(Base):
    """An inquiry (情報照会) a municipality made, and the answer it got."""

    __tablename__ = "inquiry"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tenant: Mapped[str] = mapped_column(CHAR(6))
    person_no: Mapped[str] = mapped_column(String(10), index=True)
    provider: Mapped[str] = mapped_column(CHAR(6))
    clause: Mapped[str] = mapped_column(String(100))
    items: Mapped[list[str]] = mapped_column(ARRAY(Text))
    # answered | partly_held | refused
    status: Mapped[str] = mapped_column(String(20))
    asked_by: Mapped[str] = mapped_column(String(100))
    asked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # {item_no: {"status": provided|not_held|held|refused, "records": [...]}}
    answer: Mapped[dict[str, Any]] = mapped_column(JSONB)


class HeldProvision(Base):
    """Items flagged 自動応答不可, waiting for the provider's staff until `deadline`."""

    __tablename__ = "held_provision"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tenant: Mapped[str] = mapped_column(CHAR(6))
    person_no: Mapped[str] = mapped_column(String(10))
    requester: Mapped[str] = mapped_column(CHAR(6))
    inquiry_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    clause: Mapped[str] = mapped_column(String(100))
    items: Mapped[list[str]] = mapped_column(ARRAY(Text))
    held_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # held | approved | refused | expired
    status: Mapped[str] = mapped_column(String(20), index=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(100))


class UsedPermit(Base):
    """Permits a provider honoured: a permit is good for one provision."""

    __tablename__ = "used_permit"

    jti: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tenant: Mapped[str] = mapped_column(CHAR(6))
    used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PermissionCopy(Base):
    """The gateway's own copy of the permission list, synced from the hub; a provider checks
    an inquiry against it again."""

    __tablename__ = "permission_copy"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    list_version: Mapped[int] = mapped_column(Integer)
    requester: Mapped[str] = mapped_column(String(6))
    provider: Mapped[str] = mapped_column(String(6))
    clause: Mapped[str] = mapped_column(String(100))
    item_no: Mapped[str] = mapped_column(String(10))
    item_name: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
