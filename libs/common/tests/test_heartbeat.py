"""A worker's heartbeat file and the exec probe that reads it."""

import os
import subprocess
import sys
import time
from pathlib import Path

from mch_common.heartbeat import alive, beat


def test_a_fresh_beat_is_alive_and_a_stale_or_missing_one_is_not(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat"
    assert not alive(path, within=60)
    beat(path)
    assert alive(path, within=60)
    old = time.time() - 120
    os.utime(path, (old, old))
    assert not alive(path, within=60)
    beat(path)
    assert alive(path, within=60)


def test_no_heartbeat_file_configured_writes_nothing(tmp_path: Path) -> None:
    beat(None)
    assert list(tmp_path.iterdir()) == []


def test_the_probe_command_exits_0_when_alive_and_1_when_stale(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat"
    probe = [sys.executable, "-m", "mch_common.heartbeat", str(path), "--within", "60"]
    missing = subprocess.run(probe, capture_output=True, text=True, check=False)
    assert missing.returncode == 1
    assert "no heartbeat within 60 s" in missing.stderr
    beat(path)
    assert subprocess.run(probe, check=False).returncode == 0
    old = time.time() - 61
    os.utime(path, (old, old))
    assert subprocess.run(probe, check=False).returncode == 1
