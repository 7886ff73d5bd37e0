"""The run's output folder. Files are written whole or not at all (a temporary file renamed
into place), so a crash never leaves a half-written letter file or list for the contractor."""

import os
from pathlib import Path


def prepare_dir(out_dir: Path) -> None:
    (out_dir / "letters").mkdir(parents=True, exist_ok=True)


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)
