"""Demo applicants on a simulated JPKI, for `make run` (the seed), the applicant CLI and the
benchmark: a folder holding the authorities, the trust configuration the service reads, and
each applicant's card, My Number (synthetic, passing the check digit) and a form to sign."""

import json
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from faker import Faker

from e_application.jpki.applicant import Card
from e_application.jpki.authority import Authority
from e_application.jpki.profile import HolderFacts
from mch_common.dates import today_tokyo
from mch_common.mynumber import generate_my_number

# (ward code, town, postal code) of the demo applicants' addresses.
_TOWNS = [("401064", "小倉北区浅野", "8020001"), ("401099", "八幡西区黒崎", "8060021")]


@dataclass(frozen=True)
class DemoApplicant:
    folder: Path
    card: Card
    my_number: str

    def form(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.folder / "form.json").read_text())
        return data


def open_authorities(folder: Path) -> tuple[Authority, Authority]:
    """The simulated JPKI and a private CA, and trust.json naming both (with their CRLs)."""
    jpki = Authority.open_or_create(folder / "jpki", name="JPKI", organization="J-LIS (simulated)")
    private = Authority.open_or_create(
        folder / "private-ca", name="Private CA", organization="民間認証局 (simulated)"
    )
    trust = [jpki.trust_entry("signing"), jpki.trust_entry("auth"), private.trust_entry("signing")]
    (folder / "jpki" / "trust.json").write_text(json.dumps(trust, ensure_ascii=False, indent=1))
    return jpki, private


def pregnancy_form(facts: HolderFacts, *, ward_code: str, kana: str) -> dict[str, Any]:
    today = today_tokyo()
    return {
        "name": facts.name,
        "name_kana": kana,
        "birth_date": facts.birth_date.isoformat(),
        "occupation": "会社員",
        "residence": facts.address,
        "nationality": "日本",
        "weeks_of_pregnancy": 9,
        "expected_delivery_date": (today + timedelta(days=215)).isoformat(),
        "expected_children": 1,
        "diagnosed_by": "北九州市内の産婦人科医院",
        "std_tested": True,
        "tb_tested": False,
        "notifier_name": facts.name,
        "contact_phone": "093-000-0000",
        "contact_email": "applicant@example.jp",
        "application_date": today.isoformat(),
        "collection_ward_code": ward_code,
    }


def make_applicants(
    folder: Path, jpki: Authority, count: int, *, seed: int = 14
) -> list[DemoApplicant]:
    """`count` demo applicants in `folder/applicants`, made once and reused."""
    fake = Faker("ja_JP")
    fake.seed_instance(seed)
    rng = random.Random(seed)  # noqa: S311 - synthetic demo data
    found = []
    for n in range(count):
        home = folder / "applicants" / f"applicant{n + 1:02d}"
        family, given = fake.last_name(), fake.first_name_female()
        kana = f"{fake.last_kana_name()} {fake.first_kana_name_female()}"
        ward_code, town, postal = _TOWNS[n % len(_TOWNS)]
        block = f"{rng.randint(1, 9)}-{rng.randint(1, 30)}"
        born = today_tokyo() - timedelta(days=rng.randrange(22 * 365, 38 * 365))
        if (home / "card.json").is_file():
            card = Card.load(home)
            my_number = (home / "my_number.txt").read_text().strip()
        else:
            facts = HolderFacts(
                name=f"{family} {given}",
                sex="female",
                birth_date=born,
                address=f"福岡県北九州市{town}{block}",
            )
            card = Card.issue(jpki, facts)
            card.save(home)
            my_number = generate_my_number(rng)
            (home / "my_number.txt").write_text(my_number + "\n")
            form = pregnancy_form(facts, ward_code=ward_code, kana=kana)
            (home / "form.json").write_text(json.dumps(form, ensure_ascii=False, indent=1))
            (home / "atena-person.json").write_text(
                json.dumps(
                    _atena_body(facts, kana, ward_code, town, postal, block, my_number),
                    ensure_ascii=False,
                    indent=1,
                )
            )
        found.append(DemoApplicant(home, card, my_number))
    return found


def _atena_body(
    facts: HolderFacts,
    kana: str,
    ward_code: str,
    town: str,
    postal: str,
    block: str,
    my_number: str,
) -> dict[str, Any]:
    """Her registration in atena (POST /persons), so that her application can be accepted."""
    family, given = facts.name.split(" ", 1)
    family_kana, given_kana = kana.split(" ", 1)
    return {
        "family_name": family,
        "given_name": given,
        "family_name_kana": family_kana,
        "given_name_kana": given_kana,
        "sex": facts.sex,
        "birth_date": facts.birth_date.isoformat(),
        "address": {
            "postal_code": f"{postal[:3]}-{postal[3:]}",
            "prefecture": "福岡県",
            "municipality_code": "401005",
            "ward_code": ward_code,
            "town": town,
            "block": block,
        },
        "my_number": my_number,
        "effective_date": date(2024, 1, 1).isoformat(),
    }
