"""The applicant's command line and the demo seed: a card made, an application signed from the
command line and accepted by the service; the seed's folder is what the service trusts."""

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from e_application import applicant_cli, seed
from e_application.config import Settings
from e_application.jpki.authority import Authority

from .conftest import MakeApplicant, submit


def test_make_applicant_and_sign_from_the_command_line(
    tmp_path: Path, jpki: Authority, capsys: pytest.CaptureFixture[str]
) -> None:
    card = tmp_path / "card"
    assert (
        applicant_cli.main(
            [
                "make-applicant",
                "--out",
                str(card),
                "--name",
                "北九 花子",
                "--birth-date",
                "1994-05-10",
                "--address",
                "福岡県北九州市小倉北区浅野1-1",
                "--authority",
                str(jpki.folder),
            ]
        )
        == 0
    )
    made = json.loads(capsys.readouterr().out)
    assert (card / "signing.pem").is_file()
    assert made["folder"] == str(card)


async def test_a_package_signed_by_the_cli_is_accepted(
    tmp_path: Path,
    jpki: Authority,
    client: httpx.AsyncClient,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EAPP_DEMO_DIR", str(tmp_path / "demo"))
    seed.main()
    printed = capsys.readouterr().out
    card = tmp_path / "demo" / "applicants" / "applicant01"
    assert f"submit --card {card}" in printed
    trusted = Settings(environment="dev", demo_dir=str(tmp_path / "demo")).trust
    assert [ca.name for ca in trusted.cas] == [
        "JPKI (signing)",
        "JPKI (auth)",
        "Private CA (signing)",
    ]

    # The service under test trusts the session's JPKI: a card of it signs the seed's form.
    mine = tmp_path / "mine"
    facts = json.loads((card / "card.json").read_text())
    applicant_cli.main(
        [
            "make-applicant",
            "--out",
            str(mine),
            "--name",
            facts["name"],
            "--birth-date",
            facts["birth_date"],
            "--address",
            facts["address"],
            "--authority",
            str(jpki.folder),
        ]
    )
    capsys.readouterr()
    assert applicant_cli.main(["sign", "--card", str(mine), "--form", str(card / "form.json")]) == 0
    package = capsys.readouterr().out.encode().strip()

    answer = await submit(client, package)

    assert answer.status_code == 201, answer.text


async def test_the_portal_drop_folder_is_verified_like_the_endpoints(
    tmp_path: Path,
    make_applicant: MakeApplicant,
    settings: Settings,
    committed_sessions: async_sessionmaker[AsyncSession],  # empties what this test committed
) -> None:
    from e_application.cli import import_portal

    del committed_sessions
    good, bad = make_applicant(), make_applicant()
    (tmp_path / "a.json").write_bytes(good.package())
    (tmp_path / "b.json").write_bytes(bad.package(bad.form(diagnosed_by=None)))

    counts = await import_portal(tmp_path, settings)

    assert counts == {"accepted": 1, "refused": 1}
    [accepted] = await asyncio.to_thread(lambda: list((tmp_path / "accepted").glob("*.json")))
    assert accepted.name.startswith("EA")
    reason = json.loads((tmp_path / "refused" / "b.reason.json").read_text())
    assert "is required" in json.dumps(reason, ensure_ascii=False)
    assert not await asyncio.to_thread(lambda: list(tmp_path.glob("*.json")))
