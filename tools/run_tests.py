"""Run each package's tests in its own pytest process (each gets its own database and NATS
namespace) and print one closing line over all of them."""

import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(packages: list[str]) -> int:
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    failed_packages = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for package in packages:
            # A package's tests/ folder, or the root tests/ folder itself (cross-service tests).
            tests = ROOT / package if Path(package).name == "tests" else ROOT / package / "tests"
            if not tests.is_dir():
                print(f"== {package}: no tests folder", flush=True)
                failed_packages.append(package)
                continue
            report = Path(tmp) / (package.strip("/").replace("/", "_") + ".xml")
            print(f"== {package}", flush=True)
            code = subprocess.call(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-c",
                    str(ROOT / "pyproject.toml"),
                    "--rootdir",
                    str(ROOT),
                    "-q",
                    f"--junitxml={report}",
                    str(tests),
                ],
                cwd=ROOT,
            )
            if code != 0:
                failed_packages.append(package)
            if report.exists():
                root = ET.parse(report).getroot()
                suite = root if root.tag == "testsuite" else root.find("testsuite")
                if suite is not None:
                    tests_n = int(suite.get("tests", 0))
                    failures = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
                    skipped = int(suite.get("skipped", 0))
                    totals["failed"] += failures
                    totals["skipped"] += skipped
                    totals["passed"] += tests_n - failures - skipped
    elapsed = time.monotonic() - started
    if failed_packages:
        print(f"failing packages: {', '.join(failed_packages)}")
    print(
        f"all packages ({elapsed:.0f}s): {totals['passed']} passed, {totals['failed']} failed, "
        f"{totals['skipped']} skipped"
    )
    return 1 if failed_packages or totals["failed"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
