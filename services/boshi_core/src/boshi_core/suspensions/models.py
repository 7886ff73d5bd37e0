from datetime import date
from uuid import UUID

from sqlalchemy import Date, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from boshi_core.constraints import one_of
from boshi_core.requests.schemas import SuspendedUse
from mch_common.db import Base
from mch_common.ids import uuid7


class UseSuspension(Base):
    """A use of a person's data stopped by a decision; lifted by a later one. The extraction
    and the reminder run leave out a person with an unlifted suspension of their use."""

    __tablename__ = "use_suspensions"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    person_no: Mapped[str] = mapped_column(String(10))
    use: Mapped[str] = mapped_column(String(20))
    request_id: Mapped[UUID] = mapped_column(ForeignKey("personal_data_requests.id"))
    suspended_on: Mapped[date] = mapped_column(Date)
    lifted_on: Mapped[date | None] = mapped_column(Date)
    lift_request_id: Mapped[UUID | None] = mapped_column(ForeignKey("personal_data_requests.id"))

    __table_args__ = (
        one_of("use", SuspendedUse),
        # One suspension in force per person and use (a second request for it changes nothing).
        Index(
            "uq_use_suspensions_in_force",
            "person_no",
            "use",
            unique=True,
            postgresql_where=text("lifted_on IS NULL"),
        ),
    )
