"""`make token USER=...` (identity.dev_token): a demo user's token without a one-time code, in
dev only; refused in every other environment, test included."""

import pytest

from identity.config import Settings
from identity.dev_token import NotDevError, issue_dev_token, main

from .conftest import Identity


async def test_a_dev_token_is_a_login_token_without_the_one_time_code(
    idp: Identity, settings: Settings
) -> None:
    staff = await idp.make_staff("devtoken01", ["mch_staff"])
    dev = settings.model_copy(update={"environment": "dev"})
    first = await issue_dev_token(dev, login_id="devtoken01", terminal_id=staff.terminal)
    # Twice within one 30-second step: no code to wait for.
    second = await issue_dev_token(dev, login_id="devtoken01", terminal_id=staff.terminal)
    for tokens in (first, second):
        me = await idp.client.get(
            "/oauth2/me", headers={"authorization": f"Bearer {tokens.access_token}"}
        )
        assert me.status_code == 200, me.text
        assert (me.json()["login_id"], me.json()["terminal"]) == ("devtoken01", staff.terminal)
        assert "boshi:pregnancy:write" in me.json()["scope"]
    records = await idp.audit("identity.dev_token")
    assert [r.detail["login_id"] for r in records].count("devtoken01") == 2


@pytest.mark.parametrize("environment", ["test", "staging", "production"])
async def test_outside_dev_it_refuses(idp: Identity, settings: Settings, environment: str) -> None:
    await idp.make_staff("devtoken02", ["mch_staff"])
    before = len(await idp.audit("identity.dev_token"))
    elsewhere = settings.model_copy(update={"environment": environment})
    with pytest.raises(NotDevError, match="only when ENVIRONMENT is dev"):
        await issue_dev_token(elsewhere, login_id="devtoken02")
    assert len(await idp.audit("identity.dev_token")) == before


def test_the_command_refuses_outside_dev(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IDENTITY_ENVIRONMENT", "production")
    monkeypatch.setenv("IDENTITY_KEY_ENCRYPTION_SECRET", "a-production-secret")
    monkeypatch.setenv("IDENTITY_CLIENT_SECRET", "a-production-client-secret")
    assert main(["kosodate01"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "only when ENVIRONMENT is dev" in err
