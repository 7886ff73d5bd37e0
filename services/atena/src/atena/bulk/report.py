"""What a bulk load did: lines read, people inserted, updated, unchanged, lines rejected."""

from dataclasses import dataclass, field
from typing import Any

from mch_common.lines import LineError


@dataclass
class LoadReport:
    encoding: str = ""
    lines: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    seconds: float = 0.0
    errors: list[LineError] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "encoding": self.encoding,
            "lines": self.lines,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "seconds": round(self.seconds, 2),
        }
