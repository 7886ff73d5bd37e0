"""The dev stack's demo: Fukuoka City's simulated boshi_core gets tokens of Fukuoka's tenant (the
intermediate server's second tenant), in dev and test only (elsewhere it would be one more
client of the city); the seed's demo logins file and the code an authenticator shows from it,
which `make demo` logs in with."""

import json
import time
from pathlib import Path

import jwt
import pytest

from identity import totp
from identity.clients.simulated import FUKUOKA_BOSHI_CORE, tenant_of_client
from identity.config import Settings
from identity.crypto import hash_client_secret
from identity.seed import (
    DEMO_CLIENT_SECRET,
    DEMO_CLIENTS,
    DEMO_PASSWORD,
    DemoLogin,
    write_demo_logins,
)
from identity.tokens.models import ServiceClient
from mch_common.db import unit_of_work

from .conftest import Identity


async def _client_claims(idp: Identity, client_id: str) -> dict[str, object]:
    async with unit_of_work(idp.app.state.sessions) as session:
        session.add(
            ServiceClient(
                client_id=client_id,
                name=client_id,
                secret_hash=hash_client_secret(DEMO_CLIENT_SECRET),
                scopes=["ims:disclosure:export"],
                active=True,
            )
        )
    answer = await idp.client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, DEMO_CLIENT_SECRET),
    )
    assert answer.status_code == 200, answer.text
    claims: dict[str, object] = jwt.decode(
        answer.json()["access_token"], options={"verify_signature": False}
    )
    return claims


async def test_fukuokas_simulated_client_speaks_for_fukuoka_and_others_for_the_city(
    idp: Identity,
) -> None:
    fukuoka = await _client_claims(idp, FUKUOKA_BOSHI_CORE)
    city = await _client_claims(idp, "boshi_core")

    assert (fukuoka["tenant"], fukuoka["sub"]) == ("401307", f"svc:{FUKUOKA_BOSHI_CORE}")
    assert city["tenant"] == idp.app.state.settings.tenant == "401005"


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_outside_dev_and_test_every_client_speaks_for_the_city(
    settings: Settings, environment: str
) -> None:
    deployed = settings.model_copy(update={"environment": environment})
    assert tenant_of_client(FUKUOKA_BOSHI_CORE, deployed) == deployed.tenant == "401005"


def test_the_demo_logins_file_holds_what_an_authenticator_holds(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCH_DEMO_DIR", str(tmp_path))
    login = DemoLogin("kosodate01", ["mch_staff"], None, "HQ-KOSODATE-01", "JBSWY3DPEHPK3PXP")

    path = write_demo_logins(settings, [login])

    written = json.loads(path.read_text(encoding="utf-8"))
    assert path.stat().st_mode & 0o077 == 0
    assert written["password"] == DEMO_PASSWORD
    assert written["staff"] == [
        {
            "login_id": "kosodate01",
            "roles": ["mch_staff"],
            "terminal": "HQ-KOSODATE-01",
            "totp_secret": "JBSWY3DPEHPK3PXP",
        }
    ]
    assert written["clients"][FUKUOKA_BOSHI_CORE] == "401307"
    assert {c for c, _, _ in DEMO_CLIENTS} == set(written["clients"])


def test_the_code_of_a_step_is_the_one_the_login_matches_to_that_step() -> None:
    secret = totp.new_secret()
    now = time.time()
    step = int(now // totp.PERIOD)

    assert totp.matching_step(secret, totp.code_of_step(secret, step), at=now) == step
    assert totp.matching_step(secret, totp.code_of_step(secret, step + 1), at=now) == step + 1
    assert totp.matching_step(secret, totp.code_of_step(secret, step + 2), at=now) is None
