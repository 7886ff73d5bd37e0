"""CloudEvents 1.0 envelope with the platform's extensions `tenant` and `correlationid`."""

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mch_common.ids import uuid7


def event_source(service_name: str, tenant: str) -> str:
    """The CloudEvents `source` of every event a service emits: `urn:mch:<tenant>:<service>`
    (the municipality code, then the service's settings name, e.g. `urn:mch:401005:boshi_core`)."""
    return f"urn:mch:{tenant}:{service_name}"


class CloudEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    specversion: str = "1.0"
    id: str = Field(default_factory=lambda: str(uuid7()))
    source: str
    type: str = Field(description="also the NATS subject: <service>.<aggregate>.<verb>")
    subject: str | None = Field(default=None, description="the aggregate id, e.g. a person number")
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: str = "application/json"
    data: dict[str, Any] = Field(default_factory=dict)
    tenant: str
    correlationid: str | None = None

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json_bytes(cls, raw: bytes) -> "CloudEvent":
        return cls.model_validate_json(raw)
