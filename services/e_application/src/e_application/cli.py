"""Batch entry points of e_application:

    python -m e_application.cli import-portal DIR

`import-portal` takes the signed packages the national portal (子育てワンストップサービス)
dropped in DIR (`*.json`), verifies each exactly as the REST endpoints do, and moves it to
`DIR/accepted/` (with its receipt number in the name) or to `DIR/refused/` beside a
`.reason.json` naming every failed check. One transaction per package; a package moved is
never read again, so a re-run after a crash resumes. Progress on stderr, a JSON summary on
stdout. Exit codes: 0 done, 1 some refused, 3 database unreachable.
"""

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from e_application.applications import service
from e_application.config import Settings
from e_application.deps import intake_of
from mch_common.cli import exit_on_refusal
from mch_common.db import create_engine, session_factory, unit_of_work
from mch_common.errors import DomainError

EXIT_OK, EXIT_REFUSED = 0, 1


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


async def import_portal(folder: Path, settings: Settings) -> dict[str, int]:
    intake = intake_of(settings)
    engine = create_engine(settings.database_url, pool_size=2)
    sessions = session_factory(engine)
    accepted_dir, refused_dir = folder / "accepted", folder / "refused"
    accepted_dir.mkdir(exist_ok=True)
    refused_dir.mkdir(exist_ok=True)
    counts = {"accepted": 0, "refused": 0}
    try:
        for path in await asyncio.to_thread(lambda: sorted(folder.glob("*.json"))):
            raw = path.read_bytes()
            try:
                async with unit_of_work(sessions) as session:
                    application, _ = await service.submit(
                        session, intake=intake, raw=raw, channel="portal"
                    )
            except DomainError as refused:
                reason = {"detail": refused.detail, "errors": refused.errors or []}
                (refused_dir / f"{path.stem}.reason.json").write_text(
                    json.dumps(reason, ensure_ascii=False, indent=1)
                )
                path.replace(refused_dir / path.name)
                counts["refused"] += 1
                _say(f"import-portal: {path.name} refused: {refused.detail}")
                continue
            path.replace(accepted_dir / f"{application.receipt_no}-{path.name}")
            counts["accepted"] += 1
            _say(f"import-portal: {path.name} -> {application.receipt_no}")
    finally:
        await engine.dispose()
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e_application.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    portal = commands.add_parser("import-portal", help="the national portal's dropped packages")
    portal.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    with exit_on_refusal("python -m e_application.cli import-portal"):
        counts = asyncio.run(import_portal(args.folder, Settings()))
    sys.stdout.write(json.dumps({"command": "import-portal", **counts}) + "\n")
    return EXIT_REFUSED if counts["refused"] else EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
