"""`python -m atena.seed`: a small synthetic Kitakyushu for demos (Faker ja_JP, fixed seed).

Young families with babies and toddlers, women of childbearing age, older households and a
few registered non-residents, all with My Numbers. Goes through the same service functions as
the API, so history, change log, events and access records are all there. Idempotent: a
household whose head already exists (by external key) is skipped.
"""

import asyncio
import random
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from faker import Faker
from pydantic import SecretStr

from atena.config import Settings
from atena.context import RegistryContext
from atena.persons import registration
from atena.persons.schemas import Address, Birth, HouseholdPlacement, PersonCreate
from mch_common.auth.principal import Principal
from mch_common.cli import exit_on_refusal
from mch_common.dates import today_tokyo
from mch_common.db import create_engine, session_factory, unit_of_work
from mch_common.migrations import upgrade
from mch_common.mynumber import generate_my_number

SEED = 2026
# (ward code, town, postal code)
TOWNS = [
    ("401013", "門司区栄町", "8010852"),
    ("401013", "門司区東本町", "8010853"),
    ("401021", "若松区本町", "8080034"),
    ("401021", "若松区小石本村町", "8080022"),
    ("401030", "戸畑区新池", "8040082"),
    ("401030", "戸畑区中本町", "8040066"),
    ("401064", "小倉北区浅野", "8020001"),
    ("401064", "小倉北区京町", "8020002"),
    ("401072", "小倉南区北方", "8020841"),
    ("401072", "小倉南区守恒", "8020971"),
    ("401081", "八幡東区中央", "8050019"),
    ("401081", "八幡東区西本町", "8050061"),
    ("401099", "八幡西区黒崎", "8060021"),
    ("401099", "八幡西区折尾", "8070825"),
]


def _years_ago(today: date, rng: random.Random, low: int, high: int) -> date:
    return today - timedelta(days=rng.randrange(low * 365, high * 365))


class CityBuilder:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.fake = Faker("ja_JP")
        self.fake.seed_instance(SEED)
        self.rng = random.Random(SEED)  # noqa: S311 - synthetic demo and test data, not security
        self.today = today_tokyo()
        self.principal = Principal(
            sub="seed",
            tenant=settings.tenant,
            scopes=frozenset({"atena:person:write"}),
            roles=("system",),
        )
        self.created: dict[str, int] = {"households": 0, "people": 0, "skipped_households": 0}
        self.examples: list[str] = []

    def _ctx(self) -> RegistryContext:
        return RegistryContext(
            tenant=self.settings.tenant,
            vault=self.settings.vault,
            principal=self.principal,
            purpose="demo seed",
        )

    def _address(self) -> Address:
        ward, town, postal = self.rng.choice(TOWNS)
        return Address(
            postal_code=postal,
            prefecture="福岡県",
            municipality_code=self.settings.tenant,
            ward_code=ward,
            town=town,
            block="-".join(str(self.rng.randrange(1, n)) for n in (6, 30, 20)),
            building=self.fake.building_name() + str(self.rng.randrange(101, 505))
            if self.rng.random() < 0.4
            else None,
        )

    def _adult(
        self,
        key: str,
        *,
        female: bool,
        family: tuple[str, str],
        age: tuple[int, int],
        address: Address,
        household: HouseholdPlacement | None,
        status: str = "resident",
    ) -> PersonCreate:
        given, given_kana, _ = (
            self.fake.first_name_female_pair() if female else self.fake.first_name_male_pair()
        )
        return PersonCreate(
            external_key=key,
            residence_status=status,
            family_name=family[0],
            given_name=given,
            family_name_kana=family[1],
            given_name_kana=given_kana,
            sex="female" if female else "male",
            birth_date=_years_ago(self.today, self.rng, *age),
            address=address,
            household=household,
            phone=self.fake.phone_number(),
            email=self.fake.free_email() if self.rng.random() < 0.5 else None,
            my_number=SecretStr(generate_my_number(self.rng)),
            effective_date=self.today - timedelta(days=self.rng.randrange(30, 3000)),
        )

    async def household(self, n: int, kind: str) -> None:
        key = f"SEED-{n:04d}"
        sessions = self.sessions
        async with unit_of_work(sessions) as session:
            from atena.persons import repository

            if await repository.person_no_by_external_key(session, key + "-1"):
                self.created["skipped_households"] += 1
                return
            family = self.fake.last_name_pair()[:2]
            address = self._address()
            status = "non_resident" if kind == "non_resident" else "resident"
            if status == "non_resident":
                address = Address(
                    postal_code="8100001",
                    prefecture="福岡県",
                    municipality_code="401307",
                    town="福岡市中央区天神",
                    block=f"1-{self.rng.randrange(1, 20)}",
                )
            woman_age = {"young_family": (24, 39), "childbearing": (18, 45)}.get(kind, (40, 90))
            woman = await registration.register(
                session,
                ctx=self._ctx(),
                body=self._adult(
                    key + "-1",
                    female=True,
                    family=family,
                    age=woman_age,
                    address=address,
                    household=None,
                    status=status,
                ),
            )
            mother = woman.snapshot
            people = 1
            placement = HouseholdPlacement(
                household_no=mother["household_no"], relationship_to_head="spouse"
            )
            if kind in ("young_family", "older") and self.rng.random() < 0.8:
                await registration.register(
                    session,
                    ctx=self._ctx(),
                    body=self._adult(
                        key + "-2",
                        female=False,
                        family=family,
                        age=(woman_age[0] + 1, woman_age[1] + 3),
                        address=address,
                        household=placement,
                    ),
                )
                people += 1
            if kind == "young_family":
                for child in range(self.rng.choice((1, 1, 2, 3))):
                    given, given_kana, _ = (
                        self.fake.first_name_female_pair()
                        if self.rng.random() < 0.5
                        else self.fake.first_name_male_pair()
                    )
                    # Babies and toddlers: the checkup ages (4 months to 4 years) are covered.
                    born = self.today - timedelta(days=self.rng.randrange(20, 5 * 365))
                    await registration.record_birth(
                        session,
                        ctx=self._ctx(),
                        mother_person_no=mother["person_no"],
                        body=Birth(
                            given_name=given,
                            given_name_kana=given_kana,
                            sex="female" if self.rng.random() < 0.5 else "male",
                            birth_date=born,
                            external_key=f"{key}-c{child}",
                            my_number=SecretStr(generate_my_number(self.rng)),
                        ),
                    )
                    people += 1
            if len(self.examples) < 5 and kind in ("young_family", "childbearing"):
                self.examples.append(
                    f"{mother['person_no']} {mother['family_name']} {mother['given_name']} "
                    f"({kind}, household {mother['household_no']})"
                )
        self.created["households"] += 1
        self.created["people"] += people

    async def run(self) -> dict[str, Any]:
        engine = create_engine(self.settings.database_url, pool_size=2)
        self.sessions = session_factory(engine)
        try:
            plan = (
                ["young_family"] * 60
                + ["childbearing"] * 40
                + ["older"] * 50
                + ["non_resident"] * 10
            )
            for n, kind in enumerate(plan, start=1):
                await self.household(n, kind)
        finally:
            await engine.dispose()
        return self.created


def main() -> int:
    settings = Settings()
    migrations = Path(__file__).parent / "migrations"
    builder = CityBuilder(settings)
    with exit_on_refusal("python -m atena.seed"):
        upgrade(migrations, settings.database_url)
        created = asyncio.run(builder.run())
    out = sys.stdout
    out.write(
        f"atena seed: {created['people']} people in {created['households']} new households "
        f"({created['skipped_households']} already there) in "
        f"{settings.database_url.rsplit('/', 1)[-1]}\n"
    )
    for example in builder.examples:
        out.write(f"  e.g. {example}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
