"""Kitakyushu's seven wards (区), by local government code with check digit."""

from typing import Annotated

from pydantic import AfterValidator

from mch_common.lgcode import KITAKYUSHU_WARDS

WARDS = KITAKYUSHU_WARDS  # 区 by local government code; one table, in mch_common


def ward_digits(ward_code: str) -> str:
    """The ward's two digits in handbook numbers: 401064 -> "06"."""
    return ward_code[3:5]


def _known_ward(value: str) -> str:
    if value not in WARDS:
        raise ValueError("not a Kitakyushu ward code")
    return value


WardCode = Annotated[str, AfterValidator(_known_ward)]
