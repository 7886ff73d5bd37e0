"""The rules a user's ward and roles must meet, and their 422 answer."""

from collections.abc import Sequence

from identity.users.models import Role, WardLevel
from mch_common.errors import InvalidInput
from mch_common.lgcode import KITAKYUSHU_WARDS


def ward_errors(ward: str | None) -> list[str]:
    if ward is not None and ward not in KITAKYUSHU_WARDS:
        return [f"unknown ward code {ward!r}; use one of {', '.join(sorted(KITAKYUSHU_WARDS))}"]
    return []


def role_errors(roles: Sequence[str], ward: str | None, catalog: dict[str, Role]) -> list[str]:
    """Roles must exist, and their ward level must match whether the user has a ward."""
    problems: list[str] = []
    if not roles:
        problems.append("at least one role is required")
    for name in roles:
        role = catalog.get(name)
        if role is None:
            problems.append(f"unknown role {name!r}")
        elif role.ward_level == WardLevel.CITY and ward is not None:
            problems.append(f"role {name!r} is city-wide: ward must be empty")
        elif role.ward_level == WardLevel.WARD and ward is None:
            problems.append(f"role {name!r} is held in one ward: ward is required")
    return problems


def raise_if(problems: list[str], field: str) -> None:
    if problems:
        raise InvalidInput(
            "; ".join(problems),
            errors=[{"loc": [field], "msg": p, "type": "value_error"} for p in problems],
        )
