from datetime import datetime
from uuid import UUID

from sqlalchemy import DateTime, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base
from mch_common.ids import uuid7


class Challenge(Base):
    """A one-time nonce the applicant signs with her user-authentication certificate."""

    __tablename__ = "applicant_challenges"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApplicantSession(Base):
    """A short applicant session (only the SHA-256 of its token is kept)."""

    __tablename__ = "applicant_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    card_id: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
