"""A resident address as a Japanese address is written: 〒, prefecture, city, ward, town, block,
building. The letters and the disclosure PDF print it the same way."""

from typing import Any

from boshi_core.wards import WARDS
from mch_common.lgcode import KITAKYUSHU


def postal_mark(code: str) -> str:
    """`8030812` as `〒803-0812`."""
    return f"〒{code[:3]}-{code[3:]}" if len(code) == 7 and code.isdigit() else f"〒{code}"


def address_line(address: dict[str, Any]) -> str:
    """Prefecture, city, ward, town and block run together; the building follows a space."""
    city = "北九州市" if address.get("municipality_code") == KITAKYUSHU else ""
    ward = WARDS.get(address.get("ward_code") or "", "") if city else ""
    town = address.get("town") or ""
    if town.startswith(ward):
        ward = ""  # atena's town names mostly carry the ward already: 小倉北区城内
    line = "".join((address.get("prefecture") or "", city, ward, town, address.get("block") or ""))
    building = address.get("building")
    return f"{line} {building}" if building else line


def written_address(address: dict[str, Any]) -> str:
    """The whole address on one line, the postal code first."""
    code = address.get("postal_code")
    return f"{postal_mark(str(code))} {address_line(address)}" if code else address_line(address)
