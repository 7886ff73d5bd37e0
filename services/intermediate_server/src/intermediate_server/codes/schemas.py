"""Request and response models of code management."""

from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, Field

from mch_common.inputs import MyNumber, StrictModel

PERSON_NO_PATTERN = r"^\d{10}$"
PERSON_NO = Field(
    pattern=PERSON_NO_PATTERN, description="the municipality's person number (宛名番号)"
)
PersonNo = Annotated[str, Path(pattern=PERSON_NO_PATTERN, description="person number (宛名番号)")]


class PersonWithMyNumberIn(StrictModel):
    person_no: str = PERSON_NO
    my_number: MyNumber


class CodesIn(StrictModel):
    people: list[PersonWithMyNumberIn] = Field(min_length=1, max_length=1000)


class CodesObtainedOut(BaseModel):
    obtained: int = Field(description="people whose 符号 the gateway now holds")
