"""`python -m intermediate_server.seed`: the demo platform (synthetic data, fixed seed).

Two tenants, Kitakyushu (401005) and Fukuoka City (401307). Fukuoka's side stands in for its
own atena and boshi_core: children under 6 with their 符号 and their checkups (item 95) in
Fukuoka's replica, mothers with their pregnancy notification (item 80). Kitakyushu's 符号
come from its atena (the job after registrations) and its replica from its boshi_core's
events. For the move-in story, one Fukuoka child is ready to move to Kitakyushu: the request
body for atena's `POST /persons/move-in` is written to `.devstack/demo_move_in.json` (its My
Number is synthetic and stays in that file, never on the console), and Fukuoka's side of her
(the tenant, her person number there) to `.devstack/demo_fukuoka.json`, for `make demo` to
show what Fukuoka's tenant holds about her. Idempotent."""

import asyncio
import random
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from national_hub.hub import NationalHub
from sqlalchemy import text

from intermediate_server.codes.cipher import CodeCipher
from intermediate_server.codes.service import PersonWithMyNumber, obtain_codes
from intermediate_server.config import Settings
from intermediate_server.replica.layout import CHECKUP, PREGNANCY_NOTIFICATION
from intermediate_server.replica.service import register
from intermediate_server.tenancy import enter_tenant
from mch_common.auth.principal import Principal
from mch_common.cli import exit_on_refusal
from mch_common.dates import add_months_legal, today_tokyo
from mch_common.db import create_engine, session_factory, unit_of_work
from mch_common.demo_files import write_demo_file
from mch_common.mynumber import generate_my_number

SEED = 15
KITAKYUSHU, FUKUOKA = "401005", "401307"
TENANTS = {KITAKYUSHU: "北九州市", FUKUOKA: "福岡市"}
CHILDREN = 20
KINDS = (("infant_4m", 4), ("infant_7m", 7), ("infant_1y6m", 18), ("infant_3y", 36))


def _person_no(serial: int) -> str:
    return f"4013{serial:05d}7"


MOVER = _person_no(1)  # the first child: the one who moves to Kitakyushu


async def seed(settings: Settings) -> dict[str, object]:
    """The move-in body of the demo child."""
    rng = random.Random(SEED)  # noqa: S311 - synthetic demo data
    engine = create_engine(settings.database_url, pool_size=2)
    sessions = session_factory(engine)
    hub = NationalHub(sessions=sessions, keys=settings.hub_keys)
    key_id, key, index_key = settings.code_keys
    cipher = CodeCipher(key_id=key_id, key=key, index_key=index_key)
    principal = Principal(
        sub="seed:intermediate_server", tenant=FUKUOKA, scopes=frozenset(), is_service=True
    )
    today = today_tokyo()
    mover: dict[str, object] = {}
    try:
        async with unit_of_work(sessions) as session:
            for code, name in TENANTS.items():
                await session.execute(
                    text("INSERT INTO tenant (code, name) VALUES (:c, :n) ON CONFLICT DO NOTHING"),
                    {"c": code, "n": name},
                )
        people: list[PersonWithMyNumber] = []
        births: list[date] = []
        for serial in range(1, CHILDREN + 1):
            rng_number = random.Random(SEED * 1000 + serial)  # noqa: S311
            people.append(PersonWithMyNumber(_person_no(serial), generate_my_number(rng_number)))
            births.append(today - timedelta(days=rng.randrange(130, 6 * 365)))
        async with unit_of_work(sessions) as session:
            await enter_tenant(session, FUKUOKA)
            await obtain_codes(session, principal=principal, hub=hub, cipher=cipher, people=people)
            for person, birth in zip(people, births, strict=True):
                for kind, months in KINDS:
                    taken_on = add_months_legal(birth, months) + timedelta(days=rng.randrange(20))
                    if taken_on >= today:
                        break
                    await register(
                        session,
                        principal=principal,
                        person_no=person.person_no,
                        item_no=CHECKUP,
                        record_key=f"fukuoka-{kind}",
                        as_of=datetime.combine(taken_on, datetime.min.time(), UTC),
                        no_auto_response=False,
                        data={
                            "checkup_kind": kind,
                            "taken": True,
                            "taken_on": taken_on.isoformat(),
                            "weight_g": rng.randrange(5000, 15000),
                            "judgement": "no_abnormality",
                        },
                    )
            # A mother's pregnancy notification (item 80), for the disaster victims register.
            await register(
                session,
                principal=principal,
                person_no=_person_no(900),
                item_no=PREGNANCY_NOTIFICATION,
                record_key="fukuoka-pregnancy-1",
                as_of=datetime.now(UTC),
                no_auto_response=False,
                data={
                    "notified_on": (today - timedelta(days=60)).isoformat(),
                    "expected_delivery_date": (today + timedelta(days=150)).isoformat(),
                    "expected_children": 1,
                },
            )
        child, birth = people[0], births[0]
        mover = {
            "family_name": "博多",
            "given_name": "花子",
            "family_name_kana": "フクオカ",
            "given_name_kana": "ハナコ",
            "sex": "female",
            "birth_date": birth.isoformat(),
            "my_number": child.my_number,
            "previous_municipality_code": FUKUOKA,
        }
    finally:
        await engine.dispose()
    return mover


def write_move_in_body(body: object) -> Path:
    return write_demo_file("demo_move_in.json", body)


def write_fukuoka_side() -> Path:
    """Fukuoka City's side of the move-in story: the tenant and the child's person number
    there (no My Number)."""
    return write_demo_file(
        "demo_fukuoka.json",
        {"tenant": FUKUOKA, "name": TENANTS[FUKUOKA], "children": CHILDREN, "mover": MOVER},
    )


def main() -> int:
    with exit_on_refusal("python -m intermediate_server.seed"):
        demo = write_move_in_body(asyncio.run(seed(Settings())))
    write_fukuoka_side()
    sys.stdout.write(
        f"tenants {', '.join(f'{code} ({name})' for code, name in TENANTS.items())}; Fukuoka "
        f"City: {CHILDREN} children with checkups in its replica\n"
        f"move-in story: complete {demo} (address, effective_date) and POST "
        "it to atena's /persons/move-in; atena obtains the child's 符号, boshi_core asks "
        "Fukuoka for her checkups (previous_city_records in boshi_core's "
        "GET /people/{person_no}/disclosure)\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
