"""Waiting in a test for what another task or process does soon but not at once (a relay, a
consumer, a background job)."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    within: float,
    what: str,
    interval: float = 0.05,
) -> T:
    """`probe()` until `done` holds for its value (returned); past `within` seconds an
    AssertionError names `what` and the value last seen."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}: {value!r}")
        await asyncio.sleep(interval)
