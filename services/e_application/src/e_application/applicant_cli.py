"""The applicant's client (a stand-in for the city's form and the My Number card reader):

    python -m e_application.applicant_cli make-applicant --out DIR --name 氏名 --birth-date
        YYYY-MM-DD --address 住所 [--sex female] --authority JPKI_DIR
    python -m e_application.applicant_cli sign --card DIR [--form FORM.json] > package.json
    python -m e_application.applicant_cli submit --card DIR [--form FORM.json] --url URL
    python -m e_application.applicant_cli status --card DIR --url URL
    python -m e_application.applicant_cli correct --card DIR --receipt EA... [--form F] --url URL

A card folder holds the keys and certificates the simulated JPKI issued, `my_number.txt` and
`form.json` (the pregnancy notification to sign). Exit codes: 0 done, 1 refused (the reasons
are printed), 2 bad arguments.
"""

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from e_application.jpki.applicant import Card
from e_application.jpki.authority import Authority
from e_application.jpki.profile import HolderFacts
from e_application.procedures.definitions import PREGNANCY
from mch_common.mynumber import generate_my_number


def _out(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=1) + "\n")


def _package(args: argparse.Namespace, corrects: str | None = None) -> bytes:
    card = Card.load(args.card)
    form = json.loads((args.form or args.card / "form.json").read_text())
    my_number_file = args.card / "my_number.txt"
    return card.sign_application(
        procedure=args.procedure,
        procedure_version=args.procedure_version,
        form=form,
        my_number=my_number_file.read_text().strip() if my_number_file.is_file() else None,
        corrects=corrects,
    )


def _answer(response: httpx.Response) -> int:
    try:
        _out(response.json())
    except ValueError:
        sys.stdout.write(response.text + "\n")
    return 0 if response.status_code < 400 else 1


def _session(client: httpx.Client, card: Card) -> dict[str, str]:
    challenge = client.post("/applicant/challenges").json()
    answer = client.post(
        "/applicant/sessions",
        json={
            "challenge_id": challenge["challenge_id"],
            **card.sign_challenge(challenge["challenge"]),
        },
    )
    answer.raise_for_status()
    return {"X-Applicant-Session": answer.json()["session_token"]}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m e_application.applicant_cli")
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("make-applicant", help="a demo applicant's card")
    make.add_argument("--out", type=Path, required=True)
    make.add_argument("--name", required=True)
    make.add_argument("--birth-date", type=date.fromisoformat, required=True)
    make.add_argument("--address", required=True)
    make.add_argument("--sex", choices=["female", "male"], default="female")
    make.add_argument("--authority", type=Path, required=True, help="the simulated JPKI folder")
    for name in ("sign", "submit", "status", "correct"):
        command = commands.add_parser(name)
        command.add_argument("--card", type=Path, required=True)
        command.add_argument("--form", type=Path)
        command.add_argument("--procedure", default=PREGNANCY)
        command.add_argument("--procedure-version", type=int, default=1)
        if name != "sign":
            command.add_argument("--url", default="http://127.0.0.1:8103")
        if name == "correct":
            command.add_argument("--receipt", required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "make-applicant":
        authority = Authority(args.authority)
        facts = HolderFacts(args.name, args.sex, args.birth_date, args.address)
        card = Card.issue(authority, facts)
        card.save(args.out)
        (args.out / "my_number.txt").write_text(generate_my_number() + "\n")
        _out({"card": card.card, "folder": str(args.out)})
        return 0
    if args.command == "sign":
        sys.stdout.write(_package(args).decode() + "\n")
        return 0
    with httpx.Client(base_url=args.url, timeout=30) as client:
        headers = {"content-type": "application/json"}
        if args.command == "submit":
            return _answer(client.post("/applications", content=_package(args), headers=headers))
        session = _session(client, Card.load(args.card))
        if args.command == "status":
            return _answer(client.get("/applicant/applications", headers=session))
        return _answer(
            client.post(
                f"/applicant/applications/{args.receipt}/corrections",
                content=_package(args, corrects=args.receipt),
                headers={**headers, **session},
            )
        )


if __name__ == "__main__":
    raise SystemExit(main())
