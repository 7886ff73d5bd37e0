"""符号 <-> person number, per tenant: the 符号 kept encrypted, found by a keyed index."""

from datetime import datetime

from sqlalchemy import CHAR, DateTime, LargeBinary, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base


class PersonCode(Base):
    __tablename__ = "person_code"
    __table_args__ = (UniqueConstraint("tenant", "code_index"),)

    tenant: Mapped[str] = mapped_column(CHAR(6), primary_key=True)
    person_no: Mapped[str] = mapped_column(String(10), primary_key=True)
    code_index: Mapped[bytes] = mapped_column(LargeBinary(32))
    key_id: Mapped[str] = mapped_column(String(50))
    code_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    obtained_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
