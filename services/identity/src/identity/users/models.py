"""Staff users, their roles (data: role -> scopes), and scheduled personnel transfers."""

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mch_common.db import Base, TimestampMixin


class UserStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class WardLevel(enum.StrEnum):
    """Whether a role is held city-wide (ward = null), within one ward, or either."""

    CITY = "city"
    WARD = "ward"
    ANY = "any"


class Role(Base):
    __tablename__ = "roles"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    title_ja: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text)
    ward_level: Mapped[str] = mapped_column(String(10))
    scopes: Mapped[list["RoleScope"]] = relationship(lazy="raise", order_by="RoleScope.scope")


class RoleScope(Base):
    __tablename__ = "role_scopes"

    role: Mapped[str] = mapped_column(
        ForeignKey("roles.name", ondelete="CASCADE"), primary_key=True
    )
    scope: Mapped[str] = mapped_column(String(100), primary_key=True)


class User(TimestampMixin, Base):
    """A staff member's user id. Never physically deleted: `deleted_at` keeps it for the audit."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    login_id: Mapped[str] = mapped_column(String(50), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    dept: Mapped[str] = mapped_column(String(50))
    ward: Mapped[str | None] = mapped_column(String(6))
    status: Mapped[str] = mapped_column(String(20), default=UserStatus.ACTIVE.value)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    password_hash: Mapped[str] = mapped_column(String(200))
    password_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Set by an administrator (issue, reset): its owner must change it at the next login.
    password_must_change: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The last TOTP time step accepted: a code from that step or earlier is a replay.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Tokens issued before this instant are refused (identity checks it; other services learn it
    # from the identity.user.* events).
    tokens_valid_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(100))

    roles: Mapped[list["UserRole"]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="UserRole.role"
    )

    @property
    def role_names(self) -> list[str]:
        return sorted(r.role for r in self.roles)


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(ForeignKey("roles.name"), primary_key=True)


class TransferStatus(enum.StrEnum):
    PENDING = "pending"
    APPLIED = "applied"
    CANCELLED = "cancelled"


class UserTransfer(Base):
    """A personnel transfer (人事異動): new ward, department and roles from `effective_date`."""

    __tablename__ = "user_transfers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    effective_date: Mapped[date] = mapped_column(Date, index=True)
    ward: Mapped[str | None] = mapped_column(String(6))
    dept: Mapped[str] = mapped_column(String(50))
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(50)))
    status: Mapped[str] = mapped_column(String(20), default=TransferStatus.PENDING.value)
    reason: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
