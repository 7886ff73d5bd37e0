"""Kitakyushu's seven wards (区), by local government code with check digit."""

from typing import Annotated

from pydantic import AfterValidator

WARDS: dict[str, str] = {
    "401013": "門司区",
    "401021": "若松区",
    "401030": "戸畑区",
    "401064": "小倉北区",
    "401072": "小倉南区",
    "401081": "八幡東区",
    "401099": "八幡西区",
}


def ward_digits(ward_code: str) -> str:
    """The ward's two digits in handbook numbers: 401064 -> "06"."""
    return ward_code[3:5]


def _known_ward(value: str) -> str:
    if value not in WARDS:
        raise ValueError("not a Kitakyushu ward code")
    return value


WardCode = Annotated[str, AfterValidator(_known_ward)]
