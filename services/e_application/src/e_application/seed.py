"""`python -m e_application.seed`: the simulated JPKI (and a private CA) with their CRLs, the
trust configuration the service reads in dev, and demo applicants with their cards; prints how
to sign and submit an application from the command line. Idempotent."""

import sys
from pathlib import Path

from e_application.config import Settings
from e_application.jpki.demo import make_applicants, open_authorities

DEMO_APPLICANTS = 3


def main() -> None:
    settings = Settings()
    folder = Path(settings.demo_dir).resolve()
    jpki, _ = open_authorities(folder)
    applicants = make_applicants(folder, jpki, DEMO_APPLICANTS)
    url = f"http://{settings.host}:{settings.port}"
    cli = ".venv/bin/python -m e_application.applicant_cli"  # from the repository root
    lines = [
        "e_application: a simulated JPKI and private CA in " + str(folder),
        "  demo applicants (card folders; each holds form.json, a pregnancy notification to sign):",
    ]
    for applicant in applicants:
        lines.append(f"    {applicant.card.facts.name:<12} {applicant.folder}")
    first = applicants[0].folder
    lines += [
        "  sign and submit one (the receipt number is printed):",
        f"    {cli} submit --card {first} --url {url}",
        "  sign in with the card's user-authentication certificate and see its status:",
        f"    {cli} status --card {first} --url {url}",
        "  to accept it (staff eapp01), atena must know her first: POST "
        f"{first}/atena-person.json to atena's /persons as registry01",
        "  make your own applicant: "
        f"{cli} make-applicant --out /tmp/me --name '北九 花子' --birth-date 1994-05-10 "
        f"--address '福岡県北九州市小倉北区浅野1-1' --authority {folder / 'jpki'}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
