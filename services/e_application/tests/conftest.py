"""e_application on this session's PostgreSQL and NATS, with a simulated JPKI (and a private CA
as a second trusted one, and a CA nobody trusts) in a temporary folder; each test's requests
run in a transaction rolled back afterwards."""

import json
import random
from collections.abc import AsyncIterator, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from faker import Faker
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from e_application.config import Settings
from e_application.deps import ALL_SCOPES
from e_application.jpki.applicant import Card
from e_application.jpki.authority import Authority
from e_application.jpki.profile import HolderFacts
from e_application.main import create_app
from e_application.procedures.definitions import PREGNANCY
from mch_common.dates import today_tokyo
from mch_common.mynumber import generate_my_number
from mch_testing.app import client_in
from mch_testing.keys import TestKeySet

KOKURAKITA = "401064"  # 小倉北区
YAHATANISHI = "401099"  # 八幡西区
DEPT = "子育て支援課"
Headers = Callable[..., dict[str, str]]


@pytest.fixture(scope="session")
def migrations_path() -> Path:
    import e_application

    return Path(e_application.__file__).parent / "migrations"


@pytest.fixture(scope="session")
def preserved_tables() -> frozenset[str]:
    """The procedures are reference data its migration seeds."""
    return frozenset({"audit_log", "alembic_version", "procedures"})


@pytest.fixture(scope="session")
def jpki(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority.create(
        tmp_path_factory.mktemp("jpki"), name="JPKI", organization="J-LIS (simulated)"
    )


@pytest.fixture(scope="session")
def private_ca(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority.create(
        tmp_path_factory.mktemp("private"), name="Private CA", organization="民間認証局 (simulated)"
    )


@pytest.fixture(scope="session")
def untrusted_ca(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority.create(
        tmp_path_factory.mktemp("untrusted"), name="JPKI", organization="J-LIS (simulated)"
    )


@pytest.fixture(scope="session")
def settings(service_settings: dict[str, Any], jpki: Authority, private_ca: Authority) -> Settings:
    trust = [
        jpki.trust_entry("signing"),
        jpki.trust_entry("auth"),
        private_ca.trust_entry("signing"),
    ]
    return Settings(**service_settings, trusted_cas=json.dumps(trust), notice_interval_seconds=0)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(
    app: FastAPI, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    """Requests share the test's rolled-back transaction."""
    async with client_in(app, sessions) as c:
        yield c


@pytest.fixture
def headers(jwt_keys: TestKeySet) -> Headers:
    def make(
        *scopes: str,
        ward: str | None = None,
        dept: str | None = DEPT,
        sub: str = "eapp-reviewer-01",
    ) -> dict[str, str]:
        token = jwt_keys.mint(
            sub=sub, scopes=scopes or ALL_SCOPES, ward=ward, dept=dept, roles=("eapp_reviewer",)
        )
        return {"Authorization": f"Bearer {token}"}

    return make


_fake = Faker("ja_JP")
_rng = random.Random(14)


def demo_facts(seed: int | None = None) -> HolderFacts:
    if seed is not None:
        _fake.seed_instance(seed)
    born = today_tokyo() - timedelta(days=_rng.randint(20 * 365, 38 * 365))
    return HolderFacts(
        name=f"{_fake.last_name()} {_fake.first_name_female()}",
        sex="female",
        birth_date=born,
        address=f"福岡県北九州市小倉北区{_fake.town()}{_rng.randint(1, 9)}-{_rng.randint(1, 20)}",
    )


def pregnancy_form(facts: HolderFacts, **changes: Any) -> dict[str, Any]:
    today = today_tokyo()
    form: dict[str, Any] = {
        "name": facts.name,
        "name_kana": "ヤマダ ハナコ",
        "birth_date": facts.birth_date.isoformat(),
        "occupation": "会社員",
        "residence": facts.address,
        "nationality": "日本",
        "weeks_of_pregnancy": 9,
        "expected_delivery_date": (today + timedelta(days=210)).isoformat(),
        "expected_children": 1,
        "diagnosed_by": "小倉レディースクリニック",
        "std_tested": True,
        "tb_tested": False,
        "notifier_name": facts.name,
        "contact_phone": "093-000-0000",
        "contact_email": "applicant@example.jp",
        "application_date": today.isoformat(),
        "collection_ward_code": KOKURAKITA,
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


class Applicant:
    """A demo applicant: her card, My Number and form, and how she signs."""

    def __init__(self, card: Card, my_number: str) -> None:
        self.card = card
        self.my_number = my_number

    def form(self, **changes: Any) -> dict[str, Any]:
        return pregnancy_form(self.card.facts, **changes)

    def package(self, form: dict[str, Any] | None = None, **document: Any) -> bytes:
        return self.card.sign_application(
            procedure=document.pop("procedure", PREGNANCY),
            procedure_version=document.pop("procedure_version", 1),
            form=form if form is not None else self.form(),
            my_number=document.pop("my_number", self.my_number),
            **document,
        )

    async def sign_in(self, client: httpx.AsyncClient) -> dict[str, str]:
        challenge = (await client.post("/applicant/challenges")).json()
        answer = await client.post(
            "/applicant/sessions",
            json={
                "challenge_id": challenge["challenge_id"],
                **self.card.sign_challenge(challenge["challenge"]),
            },
        )
        assert answer.status_code == 201, answer.text
        return {"X-Applicant-Session": answer.json()["session_token"]}


MakeApplicant = Callable[..., Applicant]


@pytest.fixture
def make_applicant(jpki: Authority) -> MakeApplicant:
    def make(
        authority: Authority | None = None, facts: HolderFacts | None = None, **validity: Any
    ) -> Applicant:
        card = Card.issue(authority or jpki, facts or demo_facts(), **validity)
        return Applicant(card, generate_my_number())

    return make


async def submit(client: httpx.AsyncClient, package: bytes) -> httpx.Response:
    return await client.post(
        "/applications", content=package, headers={"content-type": "application/json"}
    )


def days_ago(days: int) -> date:
    return today_tokyo() - timedelta(days=days)
