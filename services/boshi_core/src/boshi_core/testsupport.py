"""Test helpers for boshi_core and its callers' tests: synthetic atena snapshots and forms,
a fake atena lookup endpoint and a fake immunization bridge status endpoint. No real personal
data: names and numbers are made up."""

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx

from mch_common.dates import today_tokyo

KOKURA_NORTH = "401064"
YAHATA_WEST = "401099"
MY_NUMBER = "123456789018"  # valid check digit (DOMAIN.md's example)

ALL_SCOPES = (
    "boshi:pregnancy:read",
    "boshi:pregnancy:write",
    "boshi:visit:read",
    "boshi:visit:write",
    "boshi:disclosure:export",
)
CHECKUP_SCOPES = ("boshi:checkup:read", "boshi:checkup:write")
CENTER_SCOPES = ("boshi:center:read", "boshi:center:write")

Auth = Callable[..., dict[str, str]]
Register = Callable[..., Any]
Resident = Callable[..., Awaitable[dict[str, Any]]]


@dataclass
class Clock:
    """The city's "today" as boshi_core sees it in a test (the `clock` fixture); `None`: the
    real date."""

    day: date | None = None

    def set(self, day: date) -> None:
        self.day = day


class FakeAtena:
    """atena's lookup endpoint, served through httpx.MockTransport."""

    def __init__(self) -> None:
        self.known: dict[str, str] = {}
        self.down = False
        self.calls = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.down:
            raise httpx.ConnectError("atena is down", request=request)
        if request.url.path != "/persons/lookup-by-my-number":
            return httpx.Response(404, json={"title": "Not found"})
        my_number = json.loads(request.content)["my_number"]
        person_no = self.known.get(my_number)
        if person_no is None:
            return httpx.Response(404, json={"title": "Not found"})
        return httpx.Response(200, json={"person_no": person_no})


class FakeBridge:
    """The immunization bridge's status endpoint, served through httpx.MockTransport (the
    real bridge is in the cross-service tests)."""

    def __init__(self) -> None:
        self.statuses: dict[str, dict[str, Any]] = {}
        self.down = False
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            raise httpx.ConnectError("the bridge is down", request=request)
        person_no = request.url.path.removeprefix("/children/").removesuffix("/status")
        status = self.statuses.get(person_no)
        if status is None:
            return httpx.Response(404, json={"title": "Not found"})
        return httpx.Response(200, json=status)


def bridge_status(person_no: str, *, on: str, given_on: str) -> dict[str, Any]:
    """A status answer as the bridge gives it: BCG given, MR not yet due."""
    return {
        "person_no": person_no,
        "birth_date": "2026-01-31",
        "residence_status": "resident",
        "on": on,
        "doses": [
            {
                "vaccine": "bcg",
                "dose_no": 1,
                "status": "complete",
                "window_start": "2026-01-31",
                "overdue_from": "2026-09-30",
                "last_day": "2027-01-30",
                "given_on": given_on,
            },
            {
                "vaccine": "mr",
                "dose_no": 1,
                "status": "not_yet_due",
                "window_start": "2027-01-31",
                "overdue_from": None,
                "last_day": "2028-01-30",
                "given_on": None,
            },
        ],
        "records": [
            {
                "record_id": "R1",
                "vaccine": "bcg",
                "dose_no": 1,
                "given_on": given_on,
                "lot": "LOT-1",
                "institution_code": "4010012345",
            }
        ],
    }


def snapshot(
    person_no: str,
    *,
    ward: str = KOKURA_NORTH,
    birth_date: str = "1994-05-10",
    sex: str = "female",
    version: int = 1,
    family_name: str = "北九",
    given_name: str = "花子",
    given_name_kana: str | None = "ハナコ",
    mother_person_no: str | None = None,
    residence_status: str = "resident",
    death_date: str | None = None,
    household_no: str = "H000001",
    relationship_to_head: str = "妻",
    phone: str | None = "0935820000",
    delivery_addresses: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A person as atena's events carry it (the snapshot)."""
    return {
        "person_no": person_no,
        "residence_status": residence_status,
        "family_name": family_name,
        "given_name": given_name,
        "family_name_kana": "キタキュウ",
        "given_name_kana": given_name_kana,
        "sex": sex,
        "birth_date": birth_date,
        "death_date": death_date,
        "address": {
            "postal_code": "8030812",
            "prefecture": "福岡県",
            "municipality_code": "401005",
            "ward_code": ward,
            "town": "小倉北区城内",
            "block": "1-1",
            "building": None,
        },
        "household_no": household_no,
        "relationship_to_head": relationship_to_head,
        "phone": phone,
        "email": None,
        "delivery_addresses": delivery_addresses or [],
        "mother_person_no": mother_person_no,
        "version": version,
    }


def child(
    person_no: str,
    birth_date: date | str,
    *,
    household_no: str | None = None,
    residence_status: str = "resident",
    ward: str = KOKURA_NORTH,
    family_name: str = "北九",
    given_name: str = "太郎",
    mother_person_no: str | None = None,
    version: int = 1,
    death_date: str | None = None,
    delivery_addresses: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A child (by default) as atena's events carry it, for the checkup and center tests."""
    return snapshot(
        person_no,
        birth_date=str(birth_date),
        sex="male",
        family_name=family_name,
        given_name=given_name,
        given_name_kana="タロウ",
        ward=ward,
        household_no=household_no or f"H{person_no}",
        relationship_to_head="子",
        phone=None,
        residence_status=residence_status,
        death_date=death_date,
        delivery_addresses=delivery_addresses,
        mother_person_no=mother_person_no,
        version=version,
    )


def notification(
    person_no: str | None = "1000000010",
    *,
    birth_date: str = "1994-05-10",
    expected_children: int = 1,
    expected_delivery_date: str | None = None,
    weeks: int = 9,
    ward: str = KOKURA_NORTH,
    **overrides: Any,
) -> dict[str, Any]:
    today = today_tokyo()
    edd = expected_delivery_date or date.fromordinal(today.toordinal() + 200).isoformat()
    form = {
        "name": "北九 花子",
        "name_kana": "キタキュウ ハナコ",
        "birth_date": birth_date,
        "occupation": "会社員",
        "residence": "福岡県北九州市小倉北区城内1-1",
        "nationality": "日本",
        "weeks_of_pregnancy": weeks,
        "expected_delivery_date": edd,
        "expected_children": expected_children,
        "diagnosed_by": "小倉レディースクリニック 山田医師",
        "std_tested": True,
        "tb_tested": False,
        "notifier_name": "北九 花子",
        "contact_name": "北九 太郎",
        "contact_address": "福岡県北九州市小倉北区城内1-1",
        "contact_phone": "090-1234-5678",
        "contact_email": "hanako@example.jp",
        "application_date": today.isoformat(),
        "collection_ward_code": ward,
    }
    form.update(overrides)
    body: dict[str, Any] = {
        "form": form,
        "identity_check": {"document_type": "my_number_card", "checked_by": "staff-0001"},
    }
    if person_no is not None:
        body["person_no"] = person_no
    return body
