"""The intermediate server's event catalogue (stream "ims"). A payload names the person by
the requesting municipality's person number, never by My Number or 符号."""

from typing import Any

from pydantic import Field

from mch_common.events.catalogue import EventPayload, EventType

SERVICE = "intermediate_server"
STREAM = "ims"


class InquiryAnswered(EventPayload):
    inquiry_id: str = Field(description="the inquiry's id at the requesting municipality")
    person_no: str = Field(description="the requesting municipality's person number")
    provider: str = Field(description="the providing municipality's code")
    status: str = Field(description="`answered` or `partly_held`")


# Emitted when an inquiry whose items were held (自動応答不可) is decided by the provider's
# staff or by its deadline: the requesting system fetches `GET /inquiries/{id}`.
INQUIRY_ANSWERED: EventType[Any] = EventType(SERVICE, "ims.inquiry.answered", InquiryAnswered)
CATALOGUE: tuple[EventType[Any], ...] = (INQUIRY_ANSWERED,)
