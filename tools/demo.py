"""`make demo`: the platform's story end to end against the stack `make run` started, through
the services' public APIs (httpx) and the commands an operator runs beside them (the
applicant's client, boshi_core's monthly runs, the audit verifiers), one line per step.

It finds the stack through the folder `make run` keeps (`.devstack`, or MCH_DEVSTACK_DIR): each
service's settings of the run (`env/<svc>.json`: its port, and for the commands its database),
the seeds' demo files (the demo logins, the simulated JPKI, the Fukuoka child's move-in body and
her person number in Fukuoka). Staff log in as staff do: password and the one-time code their
authenticator shows (computed here from the TOTP secret the seed enrolled), at their terminal.

Each run makes a new applicant (a new address block), so it can run again on the same stack.
The first failing step stops the run: its line, the problem+json the service answered, exit 1.
The PDFs it produced (reminder letters, the disclosure) are listed at the end. Nothing here
prints a My Number: the applicant's and the mover's stay in their files.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import httpx

from identity.totp import PERIOD, code_of_step

ROOT = Path(__file__).resolve().parent.parent
DEVSTACK = Path(os.environ.get("MCH_DEVSTACK_DIR") or ROOT / ".devstack").resolve()
SERVICES = (
    "identity",
    "atena",
    "boshi_core",
    "e_application",
    "intermediate_server",
    "immunization_bridge",
)
KOKURA_KITA = "401064"
TIMEOUT = 30.0
FUKUOKA_CLIENT = "fukuoka_boshi_core"  # identity's stand-in for Fukuoka City's boshi_core
VISITS = {
    "premature": "the premature baby's visit (未熟児訪問)",
    "newborn": "the newborn visit (新生児訪問)",
    "infant_household": "the visit to every infant's home (乳児家庭全戸訪問)",
}


class StepFailed(Exception):
    """A step's failure; `detail` is what the service answered (problem+json) or printed."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


def today_tokyo() -> date:
    return datetime.now(ZoneInfo("Asia/Tokyo")).date()


# --- the stack --------------------------------------------------------------------------------


class Stack:
    """The running stack as `make run` recorded it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.settings: dict[str, dict[str, str]] = {}
        for name in SERVICES:
            path = folder / "env" / f"{name}.json"
            if not path.is_file():
                raise StepFailed(
                    f"no settings of {name} in {path}: start the stack with `make run`"
                )
            self.settings[name] = json.loads(path.read_text(encoding="utf-8"))
        self.http = httpx.Client(timeout=TIMEOUT)
        self.out = folder / "demo"
        self.out.mkdir(parents=True, exist_ok=True)
        self.pdfs: list[Path] = []

    def url(self, service: str) -> str:
        settings = self.settings[service]
        port = next(value for key, value in settings.items() if key.endswith("_PORT"))
        host = next((v for k, v in settings.items() if k.endswith("_HOST")), "127.0.0.1")
        return f"http://{host}:{port}"

    def demo_file(self, name: str) -> Any:
        """A file a seed of this stack wrote for the demo (identity's logins, the move-in)."""
        path = self.folder / name
        if not path.is_file():
            raise StepFailed(f"no {path}: did `make run` seed the demo data?")
        return json.loads(path.read_text(encoding="utf-8"))

    def log_in(self, login_id: str, logins: dict[str, Any]) -> tuple[str, float]:
        """A staff login (identity's password grant): password, terminal and the one-time code
        the user's authenticator shows now. A code works once: when this user's current one
        was spent (by an earlier run, as `totp_steps.json` remembers, or by someone else, as
        identity answers), wait for the next one. The token and the seconds waited."""
        staff = {s["login_id"]: s for s in logins["staff"]}[login_id]
        spent = self._spent_steps()
        step, waited = int(time.time() // PERIOD), 0.0
        if step <= spent.get(login_id, -1):
            step, waited = _next_step()
        answer = self._password_grant(logins["password"], staff, step)
        if answer.status_code == 401 and "already used" in answer.text:
            step, more = _next_step()
            waited += more
            answer = self._password_grant(logins["password"], staff, step)
        if answer.status_code != 200:
            raise StepFailed(f"{login_id} cannot log in: {answer.status_code}", answer.text)
        spent[login_id] = step
        self._spent_steps_file().write_text(json.dumps(spent), encoding="utf-8")
        return str(answer.json()["access_token"]), waited

    def _password_grant(self, password: str, staff: dict[str, Any], step: int) -> httpx.Response:
        return self.http.post(
            self.url("identity") + "/oauth2/token",
            data={
                "grant_type": "password",
                "username": staff["login_id"],
                "password": password,
                "terminal_id": staff["terminal"],
                "totp": code_of_step(staff["totp_secret"], step),
            },
        )

    def client_token(self, client_id: str, logins: dict[str, Any]) -> str:
        """A service client's token (client credentials), as that service gets its own."""
        answer = self.http.post(
            self.url("identity") + "/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, logins["client_secret"]),
        )
        if answer.status_code != 200:
            raise StepFailed(f"no token for {client_id}: {answer.status_code}", answer.text)
        return str(answer.json()["access_token"])

    def _spent_steps_file(self) -> Path:
        return self.out / "totp_steps.json"

    def _spent_steps(self) -> dict[str, int]:
        try:
            spent = json.loads(self._spent_steps_file().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {k: v for k, v in spent.items() if isinstance(v, int)}

    def command(self, service: str, *args: str) -> str:
        """`python -m <args>` as the operator runs it beside the service: with the service's
        settings of this run, in its folder. Its stdout; a failure raises with its output."""
        env = {**os.environ, **self.settings[service]}
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(ROOT / "services" / service / "src"), env.get("PYTHONPATH", "")])
        )
        done = subprocess.run(
            [sys.executable, "-m", *args],
            cwd=ROOT / "services" / service,
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise StepFailed(
                f"python -m {' '.join(args[:2])} exited with {done.returncode}",
                (done.stdout + done.stderr).strip()[-3000:],
            )
        return done.stdout

    def call(
        self,
        method: str,
        service: str,
        path: str,
        token: str,
        *,
        expect: Sequence[int] = (200, 201),
        **kwargs: Any,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        if method in {"POST", "PUT", "PATCH"}:
            headers.setdefault("Idempotency-Key", str(uuid.uuid4()))
        response = self.http.request(method, self.url(service) + path, headers=headers, **kwargs)
        if response.status_code not in expect:
            raise StepFailed(
                f"{method} {service} {path} answered {response.status_code}", response.text
            )
        return response

    def json(self, method: str, service: str, path: str, token: str, **kwargs: Any) -> Any:
        return self.call(method, service, path, token, **kwargs).json()

    def save_pdf(self, name: str, content: bytes, keep: Path | None = None) -> Path:
        """A PDF the story produced (`keep`: one a command wrote already, checked here)."""
        if not content.startswith(b"%PDF"):
            raise StepFailed(f"{name}: not a PDF", content[:200].decode("latin-1"))
        path = keep or self.out / name
        if keep is None:
            path.write_bytes(content)
        self.pdfs.append(path)
        return path


def _next_step() -> tuple[int, float]:
    """Sleep until the authenticator shows its next code: that time step, the seconds slept."""
    now = time.time()
    step = int(now // PERIOD) + 1
    pause = step * PERIOD - now + 0.05
    time.sleep(pause)
    return step, pause


def wait_for(what: str, check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Events take a moment (JetStream): ask again until `check` answers something."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise StepFailed(f"{what}: not seen within {timeout:.0f}s")
        time.sleep(0.3)


# --- console ----------------------------------------------------------------------------------


class Story:
    def __init__(self) -> None:
        self.number = 0
        self.skipped: list[str] = []

    @contextmanager
    def step(self, title: str) -> Iterator[list[str]]:
        """One numbered line: the title, then what the step found (appended by the step)."""
        self.number += 1
        notes: list[str] = []
        started = time.monotonic()
        try:
            yield notes
        except StepFailed as failure:
            self.fail(title, failure)
        took = time.monotonic() - started
        print(
            f"[{self.number:2}] {title}: ok ({took:.1f}s){': ' if notes else ''}{'; '.join(notes)}"
        )
        sys.stdout.flush()

    def skip(self, title: str, why: str) -> None:
        self.number += 1
        self.skipped.append(title)
        print(f"[{self.number:2}] {title}: SKIPPED: {why}", flush=True)

    def fail(self, title: str, failure: StepFailed) -> NoReturn:
        print(f"[{self.number:2}] {title}: FAILED: {failure}", flush=True)
        if failure.detail:
            print(_pretty(failure.detail), flush=True)
        raise SystemExit(1)


def _programme(kind: str) -> str:
    """`infant_1y6m` -> `1y6m`: the programme codes boshi_core uses."""
    return kind.removeprefix("infant_")


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    except ValueError:
        return text


# --- the story --------------------------------------------------------------------------------


def run(stack: Stack) -> Story:
    story = Story()
    today = today_tokyo()
    tokens: dict[str, str] = {}

    with story.step("staff log in with password and one-time code at their terminals") as n:
        logins = stack.demo_file("demo_logins.json")
        waited = 0.0
        for user in ("kosodate01", "registry01", "eapp01", "auditor01"):
            tokens[user], pause = stack.log_in(user, logins)
            waited += pause
            me = stack.json("GET", "identity", "/oauth2/me", tokens[user])
            n.append(f"{user} ({', '.join(me['roles'])}) at {me['terminal']}")
        if waited:
            n.append(
                f"waited {waited:.0f}s for the next one-time codes (each works once, and the "
                "current ones were spent already)"
            )
    mch, clerk, reviewer, auditor = (
        tokens[u] for u in ("kosodate01", "registry01", "eapp01", "auditor01")
    )

    with story.step("residents exist in atena (the seed's small Kitakyushu)") as n:
        for ward, town in ((KOKURA_KITA, "小倉北区浅野"), (KOKURA_KITA, "小倉北区京町")):
            page = stack.json(
                "GET",
                "atena",
                "/persons",
                clerk,
                params={"ward_code": ward, "town": town, "limit": 5},
                headers={"X-Access-Purpose": "demo: the residents of a town"},
            )
            items = page.get("items", [])
            if not items:
                raise StepFailed(f"atena lists nobody in {town}: did its seed run?", str(page))
            n.append(f"{town}: {page.get('total', len(items))}")

    with story.step("Fukuoka City's residents exist in its tenant of the intermediate server") as n:
        fukuoka = stack.demo_file("demo_fukuoka.json")
        moving = stack.demo_file("demo_move_in.json")
        # Fukuoka's own systems are simulated: its boshi_core's client has Fukuoka's tenant, and
        # row-level security shows it only Fukuoka's rows.
        fukuoka_token = stack.client_token(FUKUOKA_CLIENT, logins)
        held = stack.json(
            "GET",
            "intermediate_server",
            f"/persons/{fukuoka['mover']}/disclosure",
            fukuoka_token,
        )
        checkups = [e["data"] for e in held["replica"] if e["item_no"] == "95"]
        if held["code"] != "registered" or not checkups:
            raise StepFailed("Fukuoka's tenant does not hold the child's checkups", str(held))
        in_kitakyushu = stack.json(
            "GET",
            "atena",
            "/persons",
            clerk,
            params={
                "kana": f"{moving['family_name_kana']} {moving['given_name_kana']}",
                "birth_date": moving["birth_date"],
            },
            headers={"X-Access-Purpose": "demo: is the Fukuoka child in Kitakyushu yet"},
        )["items"]
        n.append(
            f"{fukuoka['name']} ({fukuoka['tenant']}), read with its (simulated) boshi_core's "
            f"token: {fukuoka['children']} children with checkups; among them person "
            f"{fukuoka['mover']} ({moving['family_name']} {moving['given_name']}, born "
            f"{moving['birth_date']}), 符号 held, "
            + ", ".join(f"{_programme(c['checkup_kind'])} {c['taken_on']}" for c in checkups)
            + (
                "; in Kitakyushu's atena since an earlier run"
                if in_kitakyushu
                else "; not in Kitakyushu's atena (she moves in below)"
            )
        )

    # A new applicant each run: her card from the simulated JPKI, her atena record.
    block = f"3-{int(time.time()) % 100000}"
    applicant = {
        "family_name": "北九",
        "given_name": "花子",
        "family_name_kana": "キタキュウ",
        "given_name_kana": "ハナコ",
        "sex": "female",
        "birth_date": "1994-05-10",
    }
    address = {
        "postal_code": "802-0001",
        "prefecture": "福岡県",
        "municipality_code": "401005",
        "ward_code": KOKURA_KITA,
        "town": "小倉北区浅野",
        "block": block,
    }
    residence = f"福岡県北九州市小倉北区浅野{block}"
    card = stack.out / f"applicant-{block}"
    with story.step("a new applicant gets her My Number card (simulated JPKI)") as n:
        stack.command(
            "e_application",
            "e_application.applicant_cli",
            "make-applicant",
            "--out",
            str(card),
            "--name",
            "北九 花子",
            "--birth-date",
            applicant["birth_date"],
            "--address",
            residence,
            "--authority",
            str(stack.folder / "eapp" / "jpki"),
        )
        n.append(f"card folder {card}")

    with story.step("registry clerk registers her in atena (POST /persons)") as n:
        my_number = (card / "my_number.txt").read_text().strip()
        person = stack.json(
            "POST",
            "atena",
            "/persons",
            clerk,
            json={
                **applicant,
                "address": address,
                "effective_date": (today - timedelta(days=400)).isoformat(),
                "my_number": my_number,
            },
        )
        mother = person["person_no"]
        n.append(f"person {mother}")

    with story.step("she signs and submits a pregnancy notification online") as n:
        due = today + timedelta(days=200)
        form = {
            "name": "北九 花子",
            "name_kana": "キタキュウ ハナコ",
            "birth_date": applicant["birth_date"],
            "occupation": "会社員",
            "residence": residence,
            "nationality": "日本",
            "weeks_of_pregnancy": 11,
            "expected_delivery_date": due.isoformat(),
            "expected_children": 1,
            "diagnosed_by": "小倉レディースクリニック",
            "std_tested": True,
            "tb_tested": False,
            "notifier_name": "北九 花子",
            "contact_phone": "093-000-0000",
            "contact_email": "applicant@example.jp",
            "application_date": today.isoformat(),
            "collection_ward_code": KOKURA_KITA,
        }
        (card / "form.json").write_text(json.dumps(form, ensure_ascii=False), encoding="utf-8")
        printed = stack.command(
            "e_application",
            "e_application.applicant_cli",
            "submit",
            "--card",
            str(card),
            "--url",
            stack.url("e_application"),
        )
        receipt = json.loads(printed).get("receipt_no")
        if not receipt:
            raise StepFailed("no receipt number", printed)
        n.append(f"receipt {receipt}")

    with story.step("staff (eapp01) find it and accept it") as n:
        listed = stack.json("GET", "e_application", "/applications", reviewer)
        found = [a for a in listed.get("items", []) if a.get("receipt_no") == receipt]
        if not found:
            raise StepFailed(f"{receipt} not in the review list", json.dumps(listed)[:2000])
        application = found[0]["id"]
        accepted = stack.json(
            "POST", "e_application", f"/applications/{application}/accept", reviewer
        )
        n.append(f"status {accepted.get('status')}")

    with story.step("boshi_core pulls the accepted notifications (cli pull-online)") as n:
        printed = stack.command("boshi_core", "boshi_core.cli", "pull-online")
        pulled = json.loads(printed.strip().splitlines()[-1])
        n.append(
            f"{pulled['opened']} opened, {pulled['already_open']} already open, "
            f"{pulled['held']} held for staff"
        )

        def opened() -> Any:
            profile = stack.call("GET", "boshi_core", f"/people/{mother}", mch, expect=(200, 404))
            return profile.status_code == 200 and profile.json().get("pregnancies")

        pregnancies = wait_for("her pregnancy in boshi_core", opened)
        pregnancy_id = pregnancies[0]["id"]
        n.append(f"pregnancy {pregnancy_id}")

    with story.step("the handbook (母子健康手帳) is issued") as n:
        pregnancy = stack.json("GET", "boshi_core", f"/pregnancies/{pregnancy_id}", mch)
        handbooks = pregnancy.get("handbooks") or []
        if not handbooks:
            issued = stack.json(
                "POST",
                "boshi_core",
                f"/pregnancies/{pregnancy_id}/handbooks",
                mch,
                json={"ward_code": KOKURA_KITA, "issued_on": today.isoformat()},
            )
            handbooks = issued.get("handbooks") or [issued]
        n.append(f"{len(handbooks)} handbook(s)")

    with story.step("prenatal checkups recorded (妊婦健康診査)") as n:
        for weeks, weight in ((12, 55.2), (16, 56.0)):
            stack.json(
                "POST",
                "boshi_core",
                f"/pregnancies/{pregnancy_id}/checkups",
                mch,
                json={
                    "checkup_date": today.isoformat(),
                    "gestational_weeks": weeks,
                    "institution": "小倉レディースクリニック",
                    "systolic_bp": 112,
                    "diastolic_bp": 70,
                    "weight_kg": weight,
                },
            )
        listed = stack.json("GET", "boshi_core", f"/pregnancies/{pregnancy_id}/checkups", mch)
        n.append(f"{len(listed.get('items', listed))} on record")

    with story.step("a low birth weight baby is born: atena registers the birth") as n:
        born = stack.json(
            "POST",
            "atena",
            f"/persons/{mother}/births",
            clerk,
            json={
                "given_name": "陽菜",
                "given_name_kana": "ヒナ",
                "sex": "female",
                "birth_date": today.isoformat(),
            },
            headers={"X-Access-Purpose": "demo: birth registration"},
        )
        baby = born["person_no"]
        n.append(f"child {baby}")

    with story.step("boshi_core records the birth (2,280 g: low birth weight)") as n:
        outcome = stack.json(
            "POST",
            "boshi_core",
            f"/pregnancies/{pregnancy_id}/outcome",
            mch,
            json={
                "outcome": "birth",
                "outcome_date": today.isoformat(),
                "births": [
                    {
                        "child_person_no": baby,
                        "birth_date": today.isoformat(),
                        "sex": "female",
                        "birth_weight_g": 2280,
                        "gestational_weeks": 36,
                        "birth_attendant": "doctor",
                        "birth_place": "小倉医療センター",
                    }
                ],
            },
        )
        child_id = outcome["children"][0]["id"]
        n.append(f"pregnancy {outcome['status']}, child record {child_id}")

    with story.step("the low birth weight notification (低体重児の届出)") as n:
        stack.json(
            "POST",
            "boshi_core",
            f"/children/{child_id}/low-birth-weight-notification",
            mch,
            json={
                "notified_on": today.isoformat(),
                "notifier_name": "北九 花子",
                "whereabouts": residence,
                "birth_place": "小倉医療センター",
            },
        )
        visits = stack.json("GET", "boshi_core", f"/children/{child_id}/visits", mch)["items"]
        if not visits:
            raise StepFailed("no visit was planned for the child")
        n.append(", ".join(f"{VISITS[v['kind']]} due by {v['due_by']}" for v in visits))

    with story.step("the home visit is assigned and its result recorded") as n:
        for visit in visits[:1]:
            stack.json(
                "POST",
                "boshi_core",
                f"/visits/{visit['id']}/assignment",
                mch,
                json={"staff_id": "kosodate01"},
            )
            done = stack.json(
                "POST",
                "boshi_core",
                f"/visits/{visit['id']}/result",
                mch,
                json={
                    "visited_on": today.isoformat(),
                    "child_weight_g": 2350,
                    "feeding": "breast",
                    "mother_epds_score": 5,
                    "needs_follow_up": True,
                },
            )
            n.append(f"{VISITS[visit['kind']]} {done.get('status')}")

    with story.step("a child moves in from Fukuoka City (atena POST /persons/move-in)") as n:
        body = stack.demo_file("demo_move_in.json")
        mover_block = f"5-{int(time.time()) % 100000}"
        body |= {
            "address": {**address, "town": "小倉北区京町", "block": mover_block},
            "effective_date": today.isoformat(),
        }
        moved = stack.call(
            "POST",
            "atena",
            "/persons/move-in",
            clerk,
            json=body,
            headers={"X-Access-Purpose": "demo: move-in"},
            expect=(200, 201, 409),
        )
        if moved.status_code == 409:  # an earlier run on this stack moved her in
            found = stack.json(
                "GET",
                "atena",
                "/persons",
                clerk,
                params={
                    "kana": f"{body['family_name_kana']} {body['given_name_kana']}",
                    "birth_date": body["birth_date"],
                },
                headers={"X-Access-Purpose": "demo: the child who moved in"},
            )["items"]
            if not found:
                raise StepFailed("move-in refused and the child is not in atena", moved.text)
            mover = found[0]["person_no"]
            n.append(f"moved in on an earlier run: person {mover}")
        else:
            mover = moved.json()["person_no"]
            n.append(f"person {mover}")

    with story.step("her Fukuoka checkups arrive through the intermediate server") as n:

        def previous() -> Any:
            answer = stack.call(
                "GET", "boshi_core", f"/people/{mover}/disclosure", mch, expect=(200, 404)
            )
            return answer.status_code == 200 and answer.json()["previous_city_records"]

        # boshi_core sends the move-in's inquiry once its consumer has queued it; if that
        # reaches the gateway before atena's 符号 for her, it is asked again 10 s later.
        records = wait_for("the previous city's checkups in boshi_core", previous, 40)
        n.append(
            ", ".join(f"{r['programme_code']} taken {r['taken_on']}" for r in records)
            + f" (from Fukuoka City, {records[0]['source_municipality']}; in boshi_core's "
            "disclosure)"
        )

    month = f"{today:%Y-%m}"
    with story.step(f"the monthly extraction of {month} finds the non-attendees") as n:
        for programme in ("4m", "7m", "1y6m", "3y"):
            extracted = stack.json(
                "POST",
                "boshi_core",
                "/checkups/extractions",
                mch,
                json={"programme": programme, "month": month},
            )
            # The list itself is paged; the extraction's answer carries the month's count.
            n.append(f"{programme}: {extracted['non_attendees']}")

    with story.step("the reminder letters are printed (cli remind)") as n:
        letters = stack.out / f"reminders-{month}"
        printed = stack.command(
            "boshi_core", "boshi_core.cli", "remind", "--month", month, "--out", str(letters)
        )
        pdfs = sorted(letters.rglob("*.pdf"))
        for pdf in pdfs:
            stack.save_pdf(pdf.name, pdf.read_bytes(), keep=pdf)
        run_report = json.loads(printed.strip().splitlines()[-1])
        sent, now = run_report["letters_sent"], run_report["letters_this_attempt"]
        n.append(
            f"run {run_report['status']}: {sent} letters to {run_report['households']} "
            f"households ({run_report['children']} children), "
            + (
                "all printed now"
                if now == sent
                else "printed by an earlier run this month"
                if now == 0
                else f"{now} printed now, the others by an earlier run this month"
            )
        )
        n.append(f"{len(pdfs)} print file(s) in {letters}")

    with story.step("immunization records arrive from the register (a cp932 file)") as n:
        wait_for(
            "the baby in the bridge's child register",
            lambda: (
                stack.call(
                    "GET",
                    "immunization_bridge",
                    f"/children/{baby}/status",
                    mch,
                    expect=(200, 404),
                ).status_code
                == 200
            ),
        )
        upload = (
            "record_id,action,person_no,vaccine,dose_no,given_on,lot,institution_code\r\n"
            f"demo-{baby}-hepb-1,追加,{baby},hepb,１,{today:%Y/%m/%d},LOT-1,4012345678\r\n"
        ).encode("cp932")
        report = stack.json(
            "POST",
            "immunization_bridge",
            "/imports",
            mch,
            params={"filename": f"register-{today:%Y%m%d}-{baby}.csv"},
            content=upload,
            headers={"Content-Type": "text/csv"},
        )
        n.append(
            f"{report['encoding']}: {report['accepted']} line(s) kept, "
            f"{report['rejected']} rejected, {report['unknown_people']} of unknown children"
        )

    with story.step("the child's vaccinations show in boshi_core's checkup profile") as n:
        profile = stack.json("GET", "boshi_core", f"/checkups/children/{baby}", mch)
        vaccinations = profile["vaccinations"]
        if vaccinations["state"] == "unavailable" or not vaccinations["records"]:
            raise StepFailed("no vaccinations in the profile", json.dumps(vaccinations))
        n.append(
            ", ".join(
                f"{r.get('vaccine')} dose {r.get('dose_no')}" for r in vaccinations["records"]
            )
            + f" (the bridge's answer: {vaccinations['state']})"
        )

    with story.step("the mother's disclosure request is answered with the access report") as n:
        request = stack.json(
            "POST",
            "boshi_core",
            "/requests",
            mch,
            json={
                "person_no": mother,
                "kind": "disclosure",
                "requester": {"kind": "self", "id_document": "my_number_card"},
                "asked": "私の母子保健の記録と、それを誰が見たか",
                "received_on": today.isoformat(),
            },
        )
        request_id = request["id"]
        stack.json(
            "POST",
            "boshi_core",
            f"/requests/{request_id}/decision",
            mch,
            json={"outcome": "full", "decided_on": today.isoformat()},
        )
        stack.json("POST", "boshi_core", f"/requests/{request_id}/fulfilment", mch)
        export = stack.json("GET", "boshi_core", f"/requests/{request_id}/export", mch)
        printed_pdf = stack.call("GET", "boshi_core", f"/requests/{request_id}/export.pdf", mch)
        path = stack.save_pdf(f"disclosure-{mother}.pdf", printed_pdf.content)
        n.append(
            f"request {request_id}: {len(export['access_log'])} access records of "
            f"{len(export['services'])} services, PDF {path}"
        )
    with story.step("every service's audit chain verifies") as n:
        for service in SERVICES:
            if service == "intermediate_server":  # no demo user holds ims:audit:read
                # The operator's verifier: exit 0 only when the chain and its anchor hold.
                printed = stack.command(service, f"{service}.audit", "verify")
                n.append(f"{service} {printed.strip().splitlines()[-1]}")
                continue
            verdict = stack.json("GET", service, "/admin/audit/verify", auditor)
            if not verdict.get("ok"):
                raise StepFailed(f"{service}'s audit chain does not verify", json.dumps(verdict))
            n.append(f"{service} intact, {verdict.get('checked')} records")
    return story


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.parse_args(argv)
    try:
        stack = Stack(DEVSTACK)
    except StepFailed as failure:
        print(f"demo: {failure}", file=sys.stderr)
        return 1
    started = time.monotonic()
    story = run(stack)
    print(f"the story ran in {time.monotonic() - started:.1f}s", flush=True)
    if stack.pdfs:
        print("PDFs produced:")
        for path in stack.pdfs:
            print(f"  {path}")
    if story.skipped:
        print(f"{len(story.skipped)} step(s) skipped: {', '.join(story.skipped)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
