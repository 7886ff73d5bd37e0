"""Background jobs: run at start and every period, at once when a committed transaction wakes
them (never after a rollback), once more when woken mid-step, and past a failing step."""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mch_common.db import unit_of_work
from mch_common.jobs import PeriodicJob, cancelled, wake_after_commit
from mch_testing.waiting import eventually

HOUR = 3600.0


async def until(check: Callable[[], bool], within: float = 5.0) -> None:
    """Wait for `check()` (a job's step runs on the event loop, soon but not at once)."""

    async def probe() -> bool:
        return check()

    await eventually(probe, bool, within=within, what="the job's step")


class Counted:
    """A step that counts its calls and can be made to wait or fail."""

    def __init__(self) -> None:
        self.calls = 0
        self.hold: asyncio.Event | None = None
        self.failures = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.hold is not None:
            hold, self.hold = self.hold, None
            await hold.wait()
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the step failed")


@pytest.fixture
async def running() -> AsyncIterator[Callable[[PeriodicJob], Awaitable[None]]]:
    tasks: list[asyncio.Task[None]] = []

    async def start(job: PeriodicJob) -> None:
        tasks.append(asyncio.create_task(job.run_forever()))

    yield start
    for task in tasks:
        await cancelled(task)


async def test_a_committed_transaction_wakes_the_job_and_a_rolled_back_one_does_not(
    committed_sessions: async_sessionmaker[AsyncSession],
    running: Callable[[PeriodicJob], Awaitable[None]],
) -> None:
    step = Counted()
    await running(PeriodicJob("test.woken", step, every=HOUR))
    await until(lambda: step.calls == 1)  # the first step at start

    async def failed_request() -> None:
        async with unit_of_work(committed_sessions) as session:
            await session.execute(text("SELECT 1"))
            wake_after_commit(session, "test.woken")
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError):
        await failed_request()
    await asyncio.sleep(0.2)
    assert step.calls == 1

    async with unit_of_work(committed_sessions) as session:
        await session.execute(text("SELECT 1"))
        wake_after_commit(session, "test.woken")
        wake_after_commit(session, "test.woken")  # asked twice: woken once
        wake_after_commit(session, "test.other")  # no such job here: nothing happens
        await asyncio.sleep(0.2)
        assert step.calls == 1  # not before the commit
    await until(lambda: step.calls == 2)  # an hour early
    await asyncio.sleep(0.2)
    assert step.calls == 2


async def test_a_wake_during_a_step_runs_it_once_more_when_it_ends(
    running: Callable[[PeriodicJob], Awaitable[None]],
) -> None:
    step = Counted()
    step.hold = hold = asyncio.Event()
    job = PeriodicJob("test.busy", step, every=HOUR)
    await running(job)
    await until(lambda: step.calls == 1)
    job.wake()  # work arrives while the first step is still running
    hold.set()
    await until(lambda: step.calls == 2)
    await asyncio.sleep(0.2)
    assert step.calls == 2


async def test_a_failing_step_is_logged_and_tried_again_next_period(
    running: Callable[[PeriodicJob], Awaitable[None]], caplog: pytest.LogCaptureFixture
) -> None:
    step = Counted()
    step.failures = 2
    caplog.set_level(logging.ERROR, logger="mch_common.jobs")
    job = PeriodicJob("test.flaky", step, every=0.05)
    await running(job)
    await until(lambda: job.runs >= 3)
    failed = [r for r in caplog.records if r.name == "mch_common.jobs"]
    assert [r.getMessage() for r in failed] == ["job test.flaky failed; trying again in 0.05 s"] * 2


async def test_a_job_that_waits_first_runs_only_when_woken_or_a_period_has_passed(
    running: Callable[[PeriodicJob], Awaitable[None]],
) -> None:
    step = Counted()
    job = PeriodicJob("test.later", step, every=HOUR, wait_first=True)
    await running(job)
    await asyncio.sleep(0.2)
    assert step.calls == 0
    job.wake()
    await until(lambda: step.calls == 1)


def test_a_period_is_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        PeriodicJob("test.never", Counted(), every=0)


async def test_a_session_committed_by_itself_wakes_the_job_too(
    committed_sessions: async_sessionmaker[AsyncSession],
    running: Callable[[PeriodicJob], Awaitable[None]],
) -> None:
    """As a POST with an Idempotency-Key commits (its middleware's own session.commit())."""
    step = Counted()
    await running(PeriodicJob("test.keyed", step, every=HOUR))
    await until(lambda: step.calls == 1)
    session = committed_sessions()
    try:
        await session.begin()
        await session.execute(text("SELECT 1"))
        wake_after_commit(session, "test.keyed")
        await session.commit()
    finally:
        await session.close()
    await until(lambda: step.calls == 2)
