"""The demo seeds' files: what a seeder hands to the people trying the stack (`make demo`),
such as the demo staff's logins or a move-in request body, written to `MCH_DEMO_DIR` (the dev
stack's folder; `make run` sets it) as JSON readable by its owner only, since they may hold
demo secrets or a synthetic My Number that must never reach a console."""

import json
import os
from pathlib import Path

DEMO_DIR_VARIABLE = "MCH_DEMO_DIR"
DEFAULT_DEMO_DIR = ".devstack"


def write_demo_file(name: str, content: object) -> Path:
    """`content` as `<MCH_DEMO_DIR>/<name>` (mode 0600, replaced whole); its path."""
    folder = Path(os.environ.get(DEMO_DIR_VARIABLE) or DEFAULT_DEMO_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)  # a file an older seed left readable
    path.write_text(json.dumps(content, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path
