"""What staff see of the records a previous city provided."""

from datetime import date, datetime

from pydantic import BaseModel

from boshi_core.moving_in.models import PreviousCityRecord


class PreviousCityNotificationOut(BaseModel):
    """The previous city's pregnancy notification information (item 80, its replica's
    layout), marked with its source and date."""

    source_municipality: str
    record_key: str
    as_of: datetime
    received_at: datetime
    notified_on: date | None
    expected_delivery_date: date | None
    weeks_at_notification: int | None
    expected_children: int | None
    handbook_issued_on: date | None

    @classmethod
    def of(cls, record: PreviousCityRecord) -> "PreviousCityNotificationOut":
        data = record.data
        return cls(
            source_municipality=record.source_municipality,
            record_key=record.record_key,
            as_of=record.as_of,
            received_at=record.received_at,
            notified_on=data.get("notified_on"),
            expected_delivery_date=data.get("expected_delivery_date"),
            weeks_at_notification=data.get("weeks_at_notification"),
            expected_children=data.get("expected_children"),
            handbook_issued_on=data.get("handbook_issued_on"),
        )
