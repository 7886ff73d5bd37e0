"""Tables of the registry.

`person` holds the current state (what searches and reads use). Every change also writes a
`person_version` row (the snapshot valid from `valid_from` until `valid_to`, bitemporal-lite:
a correction supersedes rows instead of editing them) and a `person_change` row (the change
log with the changed fields before and after). The My Number lives apart, encrypted, in
`person_my_number`, found by its blind index.
"""

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base

RESIDENCE_STATUSES = ("resident", "non_resident", "moved_out", "deceased")
# Numbers, keys and codes are ASCII and compared byte by byte ("C"): the database's default
# collation compares through the C library's strcoll, which made every sort, index probe and
# key check on them dearer (a bulk load's index rebuild 9.9 -> 7.7 s; migration 0011).
CODE = "C"
SEXES = ("male", "female")


class Household(Base):
    """世帯 (household). The head is the person whose relationship_to_head is `head`."""

    __tablename__ = "household"

    household_no: Mapped[str] = mapped_column(String(10, collation=CODE), primary_key=True)
    external_key: Mapped[str | None] = mapped_column(String(64, collation=CODE), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Person(Base):
    __tablename__ = "person"

    person_no: Mapped[str] = mapped_column(String(10, collation=CODE), primary_key=True)
    external_key: Mapped[str | None] = mapped_column(String(64, collation=CODE), unique=True)
    version: Mapped[int] = mapped_column(Integer)
    residence_status: Mapped[str] = mapped_column(String(20))
    family_name: Mapped[str] = mapped_column(String(100))
    given_name: Mapped[str] = mapped_column(String(100))
    family_name_kana: Mapped[str] = mapped_column(String(200))
    given_name_kana: Mapped[str] = mapped_column(String(200))
    # Search keys (see mch_common.names); "C" collation so prefix ranges use the index.
    name_key: Mapped[str] = mapped_column(String(300, collation="C"))
    kana_key: Mapped[str] = mapped_column(String(400, collation="C"))
    sex: Mapped[str] = mapped_column(String(10))
    birth_date: Mapped[date] = mapped_column(Date)
    death_date: Mapped[date | None] = mapped_column(Date)
    postal_code: Mapped[str | None] = mapped_column(String(7, collation=CODE))
    prefecture: Mapped[str | None] = mapped_column(String(20))
    municipality_code: Mapped[str | None] = mapped_column(String(6, collation=CODE))
    ward_code: Mapped[str | None] = mapped_column(String(6, collation=CODE))
    town: Mapped[str | None] = mapped_column(String(200))
    block: Mapped[str | None] = mapped_column(String(100))
    building: Mapped[str | None] = mapped_column(String(200))
    household_no: Mapped[str | None] = mapped_column(ForeignKey("household.household_no"))
    relationship_to_head: Mapped[str | None] = mapped_column(String(30))
    phone: Mapped[str | None] = mapped_column(String(30))
    email: Mapped[str | None] = mapped_column(String(254))
    mother_person_no: Mapped[str | None] = mapped_column(String(10, collation=CODE))
    delivery_addresses: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, server_default=text("'[]'::jsonb")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    __table_args__ = (
        CheckConstraint(
            "residence_status IN ('resident', 'non_resident', 'moved_out', 'deceased')",
            name="residence_status",
        ),
        CheckConstraint("sex IN ('male', 'female')", name="sex"),
        Index("ix_person_name_key", "name_key"),
        Index("ix_person_kana_key", "kana_key"),
        Index("ix_person_birth_date", "birth_date"),
        Index("ix_person_ward_code", "ward_code"),
        Index("ix_person_household_no", "household_no"),
        Index("ix_person_postal_code", "postal_code"),
    )


class PersonVersion(Base):
    """The person as they were from `valid_from` (inclusive) to `valid_to` (exclusive)."""

    __tablename__ = "person_version"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    person_no: Mapped[str] = mapped_column(ForeignKey("person.person_no"))
    version: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    superseded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONB)

    __table_args__ = (Index("ix_person_version_lookup", "person_no", "valid_from"),)


class PersonChange(Base):
    """The change log: one row per life event or correction."""

    __tablename__ = "person_change"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    person_no: Mapped[str] = mapped_column(ForeignKey("person.person_no"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    change_type: Mapped[str] = mapped_column(String(40))
    effective_date: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    before: Mapped[dict[str, Any]] = mapped_column(JSONB)
    after: Mapped[dict[str, Any]] = mapped_column(JSONB)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


class PersonMyNumber(Base):
    """個人番号, kept apart: AES-256-GCM ciphertext (aad = person number), keyed blind index."""

    __tablename__ = "person_my_number"

    person_no: Mapped[str] = mapped_column(ForeignKey("person.person_no"), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(64))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    blind_index: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    # Which index key made `blind_index` (its label); NULL: made before labels were recorded.
    index_key_id: Mapped[str | None] = mapped_column(String(64))
    registered_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
