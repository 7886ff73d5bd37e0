"""Bookkeeping of the bulk loader."""

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base


class DeferredIndex(Base):
    """Secondary indexes an initial load dropped, kept until they are rebuilt, so that a load
    interrupted half-way still gets them back on the next run."""

    __tablename__ = "bulk_deferred_index"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    ddl: Mapped[str] = mapped_column(Text)
