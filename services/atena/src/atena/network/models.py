"""Which persons have obtained their 符号, and for which registration of their My Number."""

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base


class NetworkCode(Base):
    __tablename__ = "network_code"

    person_no: Mapped[str] = mapped_column(ForeignKey("person.person_no"), primary_key=True)
    # The person_my_number.registered_at the 符号 was obtained for: a replaced My Number
    # (a later registration) obtains it again.
    for_registered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    obtained_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(10))  # obtained | failed
