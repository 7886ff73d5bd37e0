"""Bodies of the My Number routes. The number only ever travels in a request body."""

from pydantic import BaseModel, Field

from atena.persons.schemas import PersonOut
from mch_common.inputs import MyNumber, StrictModel


class MyNumberLookup(StrictModel):
    my_number: MyNumber


class MyNumberRegistration(StrictModel):
    """A My Number for a registered person: a first one, or a replacement (番号の変更, e.g.
    after a leak), which needs its reason."""

    my_number: MyNumber
    reason: str | None = Field(default=None, min_length=1, max_length=500)


class LookupOut(BaseModel):
    person_no: str
    person: PersonOut | None = Field(
        default=None, description="included when the caller also holds atena:person:read"
    )
