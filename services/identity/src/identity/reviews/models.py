"""User-list reviews (利用者一覧の定期確認): each export is recorded with what changed since the
previous one, and an auditor signs it off."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base


class UserReview(Base):
    __tablename__ = "user_reviews"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str] = mapped_column(String(100))
    previous_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_reviews.id"))
    rows: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    csv_sha256: Mapped[str] = mapped_column(String(64))
    diff: Mapped[dict[str, Any]] = mapped_column(JSONB)
    signed_off_by: Mapped[str | None] = mapped_column(String(100))
    signed_off_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
