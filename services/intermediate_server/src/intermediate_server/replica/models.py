"""The replica (副本): what a municipality's business systems registered as providable."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CHAR, Boolean, DateTime, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base


class ReplicaEntry(Base):
    """One record of one item about one person, as of `as_of` (the business system's time of
    the data); a later registration of the same `record_key` replaces it, an older one not."""

    __tablename__ = "replica_entry"
    __table_args__ = (UniqueConstraint("tenant", "person_no", "item_no", "record_key"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tenant: Mapped[str] = mapped_column(CHAR(6))
    person_no: Mapped[str] = mapped_column(String(10))
    item_no: Mapped[str] = mapped_column(String(10))
    record_key: Mapped[str] = mapped_column(String(64))
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # 自動応答不可: provided only after the municipality's staff confirm.
    no_auto_response: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    registered_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
