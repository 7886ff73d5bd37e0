"""Progress lines for long runs: items done, rate, time left; and the closing summary."""

import sys
import time
from typing import TextIO


class Progress:
    def __init__(
        self, label: str, total: int, *, out: TextIO | None = None, every_seconds: float = 2.0
    ) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.out = out if out is not None else sys.stderr
        self.every = every_seconds
        self.started = time.monotonic()
        self._last = self.started

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    def line(self) -> str:
        rate = self.rate
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        pct = 100.0 * self.done / self.total if self.total else 100.0
        eta = f"{left:.0f}s" if left == left else "?"
        return (
            f"{self.label}: {self.done}/{self.total} ({pct:.1f}%), {rate:.1f}/s, about {eta} left"
        )

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= self.every or self.done >= self.total:
            self._last = now
            print(self.line(), file=self.out, flush=True)

    def summary(self) -> str:
        return f"{self.label}: {self.done} done in {self.elapsed:.1f}s ({self.rate:.1f}/s)"
