from datetime import datetime
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base
from mch_common.ids import uuid7


class ResultNotice(Base):
    """A result notice to send by e-mail (written in the decision's transaction, sent after
    commit by the notice sender, so a restart neither loses nor repeats one): the receipt
    number and the outcome only."""

    __tablename__ = "result_notices"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    application_id: Mapped[UUID] = mapped_column(ForeignKey("applications.id"), index=True)
    receipt_no: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(10))  # accepted | returned
    to_address: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
