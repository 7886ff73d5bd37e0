"""The seeds' demo files: in MCH_DEMO_DIR, owner-only, replaced whole."""

import json
from pathlib import Path

import pytest

from mch_common.demo_files import write_demo_file


def test_a_demo_file_is_written_owner_only_in_the_demo_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCH_DEMO_DIR", str(tmp_path / "stack"))
    earlier = tmp_path / "stack" / "logins.json"
    earlier.parent.mkdir()
    earlier.write_text('{"old": "content that was longer than the new one"}')
    earlier.chmod(0o644)

    path = write_demo_file("logins.json", {"user": "花子"})

    assert path == earlier
    assert json.loads(path.read_text(encoding="utf-8")) == {"user": "花子"}
    assert path.stat().st_mode & 0o077 == 0
