"""A service's background jobs: each runs every so many seconds, and at once when a committed
transaction gave it work (`wake_after_commit`), so that what follows a registration (atena's
符号 obtained, boshi_core's move-in inquiry sent) takes moments, not a period. The period
stays as the net for what a wake cannot reach: work another replica committed, a step that
failed, a restart.

    codes = PeriodicJob("atena.network_codes", obtain, every=settings.network_code_seconds)
    task = asyncio.create_task(codes.run_forever())
    ...
    wake_after_commit(session, "atena.network_codes")  # in the transaction that queued work
"""

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable
from functools import cache

from sqlalchemy.ext.asyncio import AsyncSession

from mch_common.db_session import after_commit

log = logging.getLogger("mch_common.jobs")

# The jobs of this process by name (a test may run two apps, so a name may have several).
_RUNNING: "dict[str, weakref.WeakSet[PeriodicJob]]" = {}


class PeriodicJob:
    """`step()` every `every` seconds (the first at once, unless `wait_first`), and again as
    soon as `wake()` is called, during a step too (then once more when it ends). A step that
    raises is logged and tried again at the next period; it never stops the job."""

    def __init__(
        self,
        name: str,
        step: Callable[[], Awaitable[object]],
        *,
        every: float,
        wait_first: bool = False,
    ) -> None:
        if every <= 0:
            raise ValueError("a job's period is a positive number of seconds")
        self.name = name
        self.every = every
        self.runs = 0
        self._step = step
        self._wait_first = wait_first
        self._woken = asyncio.Event()

    def wake(self) -> None:
        self._woken.set()

    async def run_forever(self) -> None:
        """The job's task: until it is cancelled."""
        running = _RUNNING.setdefault(self.name, weakref.WeakSet())
        running.add(self)
        try:
            if self._wait_first:
                await self._wait()
            while True:
                self._woken.clear()  # a wake from here on means one more step
                try:
                    await self._step()
                except Exception:
                    log.exception("job %s failed; trying again in %s s", self.name, self.every)
                self.runs += 1
                await self._wait()
        finally:
            running.discard(self)

    async def _wait(self) -> None:
        try:
            await asyncio.wait_for(self._woken.wait(), timeout=self.every)
        except TimeoutError:
            pass


def wake_after_commit(session: AsyncSession, name: str) -> None:
    """Wake this process's job `name` once the session's transaction commits (never if it
    rolls back). Sessions of `mch_common.db.session_factory`."""
    after_commit(session, _waker(name))


@cache
def _waker(name: str) -> Callable[[], None]:
    # One function per name: after_commit keeps a hook once however often it is asked.
    def wake() -> None:
        for job in list(_RUNNING.get(name, ())):
            job.wake()

    return wake


async def cancelled(task: "asyncio.Task[object]") -> None:
    """Cancel a background task and wait until it has ended (a lifespan's clean-up)."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
