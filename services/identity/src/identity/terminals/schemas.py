from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from mch_common.inputs import StrictModel


class TerminalIn(StrictModel):
    id: str = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(min_length=1, max_length=100)
    ward: str | None = Field(
        default=None, pattern=r"^\d{6}$", description="its ward office; null = headquarters"
    )
    location: str | None = Field(default=None, max_length=200)


class TerminalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    ward: str | None
    location: str | None
    active: bool
    registered_by: str
    registered_at: datetime
    deactivated_at: datetime | None
