"""Test helpers of the atena service (used by its tests and the benchmark)."""

from collections.abc import Callable
from typing import Any

Headers = Callable[..., dict[str, str]]


KOKURA_KITA = "401064"
YAHATA_NISHI = "401099"
_counter = iter(range(1, 1_000_000))


def person_body(**overrides: Any) -> dict[str, Any]:
    """A valid registration body; every call gives a different person."""
    n = next(_counter)
    body: dict[str, Any] = {
        "family_name": "山田",
        "given_name": f"花子{n}",
        "family_name_kana": "ヤマダ",
        "given_name_kana": f"ハナコ{n}",
        "sex": "female",
        "birth_date": "1994-05-10",
        "address": {
            "postal_code": "802-0001",
            "prefecture": "福岡県",
            "municipality_code": "401005",
            "ward_code": KOKURA_KITA,
            "town": "小倉北区浅野",
            "block": f"1-{n}",
        },
        "phone": "093-000-0000",
        "effective_date": "2024-01-01",
    }
    body.update(overrides)
    return body
