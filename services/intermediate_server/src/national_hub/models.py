"""The hub's tables, in the PostgreSQL schema `hub` (apart from every municipality's data)."""

import uuid
from datetime import date, datetime

from sqlalchemy import (
    CHAR,
    Date,
    DateTime,
    Identity,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base

SCHEMA = "hub"
_IN_HUB_SCHEMA: tuple[dict[str, str]] = ({"schema": SCHEMA},)


class HubPerson(Base):
    """One person known to the network: a random id, found again by a keyed index of the My
    Number (the number itself is not kept)."""

    __tablename__ = "person"
    __table_args__ = _IN_HUB_SCHEMA

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    my_number_index: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class IssuedCode(Base):
    """A 符号 issued to one institution for one person."""

    __tablename__ = "issued_code"
    __table_args__ = (UniqueConstraint("institution", "person_id"), {"schema": SCHEMA})

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    institution: Mapped[str] = mapped_column(CHAR(6))
    person_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PermissionRule(Base):
    """One line of the permission list (照会許可照合リスト), versioned data with effective dates:
    `requester` may ask `provider` for `item_no` under `clause`. "*" is any municipality."""

    __tablename__ = "permission_rule"
    __table_args__ = _IN_HUB_SCHEMA

    id: Mapped[int] = mapped_column(Integer, Identity(always=False), primary_key=True)
    list_version: Mapped[int] = mapped_column(Integer)
    requester: Mapped[str] = mapped_column(String(6))
    provider: Mapped[str] = mapped_column(String(6))
    clause: Mapped[str] = mapped_column(String(100))
    item_no: Mapped[str] = mapped_column(String(10))
    item_name: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)


class IssuedPermit(Base):
    """The hub's log of the permits it issued (and of those it refused: `refused_reason`)."""

    __tablename__ = "issued_permit"
    __table_args__ = _IN_HUB_SCHEMA

    jti: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    requester: Mapped[str] = mapped_column(CHAR(6))
    provider: Mapped[str] = mapped_column(CHAR(6))
    clause: Mapped[str] = mapped_column(String(100))
    items: Mapped[list[str]] = mapped_column(ARRAY(Text))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refused_reason: Mapped[str | None] = mapped_column(Text)
