"""Timeouts in raw asyncio: ``asyncio.timeout_at`` per job in a TaskGroup of ``limit`` workers,
a cleanup shielded by a task awaited to its end, and retry under ``asyncio.timeout``.

Contract and docstrings: :class:`shared.timeouts.Timeouts`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TypeVar

from impl_asyncio.cancellation import shielded  # asyncio has no shielded cancel scope
from shared.errors import one_error, surfaces_caller_errors
from shared.timeouts import (
    DeadlineExceeded,
    OnRetry,
    OnTimedStep,
    RetriesExhausted,
    TimedJob,
    TimedOutcome,
    TimedStatus,
    TimedStep,
    check_batch_args,
    check_retry_args,
    stop_for,
)

__all__ = ["run_jobs", "retry"]

T = TypeVar("T")


# --- One job -------------------------------------------------------------------------------


async def _cleanup(index: int, job: TimedJob, on_event: OnTimedStep) -> None:
    on_event(index, TimedStep.CLEANUP_STARTED)
    await asyncio.sleep(job.cleanup_seconds)
    on_event(index, TimedStep.CLEANED_UP)


async def _run_job(
    index: int, job: TimedJob, stop_at: float, cause: TimedStatus, on_event: OnTimedStep
) -> TimedOutcome:
    on_event(index, TimedStep.STARTED)
    status = TimedStatus.FINISHED
    try:
        # One scope at the earlier of the two deadlines; `cause` says which one it is.
        async with asyncio.timeout_at(stop_at):
            await asyncio.sleep(job.work_seconds)
    except TimeoutError:
        status = cause
    finally:
        # The job's own scope has closed, but a cancel from outside or a failing sibling
        # can land here, and a plain await would be cut short by it.
        await shielded(_cleanup(index, job, on_event))
        # No check for a pending cancel here (Trio and AnyIO need one): shielded() re-raises a
        # cancel from outside that came during the cleanup as soon as the cleanup is done.
    return TimedOutcome(index, job, status, cleaned_up=True)


# --- The batch -----------------------------------------------------------------------------
#
# `limit` workers share one iterator of jobs, so jobs start in input order and at most
# `limit` run at once, and a worker that finds the overall deadline passed marks the rest
# NOT_STARTED without waiting. Deadlines are absolute times on the loop's clock.


async def _worker(
    jobs: Iterator[tuple[int, TimedJob]],
    job_timeout: float,
    deadline: float,
    on_event: OnTimedStep,
    done: dict[int, TimedOutcome],
) -> None:
    loop = asyncio.get_running_loop()
    # When the last job logically ended. A timer may fire a little early (uvloop's fire up to
    # about half a millisecond before their time), so the clock alone could still read
    # before a deadline that has passed.
    turn = -math.inf
    for index, job in jobs:
        now = max(loop.time(), turn)
        if now >= deadline:
            done[index] = TimedOutcome(index, job, TimedStatus.NOT_STARTED, cleaned_up=False)
        else:
            stop_at, cause = stop_for(now, job_timeout, deadline)
            done[index] = outcome = await _run_job(index, job, stop_at, cause, on_event)
            ended = now + job.work_seconds if outcome.status is TimedStatus.FINISHED else stop_at
            turn = ended + job.cleanup_seconds


async def _run_batch(
    jobs: list[TimedJob], limit: int, job_timeout: float, batch_timeout: float, on_event: OnTimedStep
) -> list[TimedOutcome]:
    deadline = asyncio.get_running_loop().time() + batch_timeout
    pending = iter(enumerate(jobs))
    done: dict[int, TimedOutcome] = {}
    try:
        async with asyncio.TaskGroup() as workers:
            for _ in range(min(limit, len(jobs))):
                workers.create_task(_worker(pending, job_timeout, deadline, on_event, done))
    except BaseExceptionGroup as group:
        # Only on_event can fail a worker; the TaskGroup wraps its error even when alone.
        raise one_error(group)
    return [done[index] for index in range(len(jobs))]


# --- Retry with backoff --------------------------------------------------------------------


async def _attempts(
    operation: Callable[[], Awaitable[T]],
    retry_on: tuple[type[Exception], ...],
    delays: list[float],
    on_retry: OnRetry,
    failures: list[Exception],
) -> T:
    # Every retryable failure goes into `failures`, which outlives this call: when the
    # deadline cuts in, the caller still knows how many attempts failed and the last error.
    attempt = 0
    while True:
        attempt += 1
        try:
            return await operation()
        except retry_on as exc:
            failures.append(exc)
            if attempt > len(delays):
                raise RetriesExhausted(attempt, exc) from exc
            on_retry(attempt, exc, delays[attempt - 1])
        await asyncio.sleep(delays[attempt - 1])


# --- Public API ----------------------------------------------------------------------------


@surfaces_caller_errors
async def run_jobs(
    jobs: Iterable[TimedJob],
    *,
    limit: int,
    job_timeout: float | None = None,
    batch_timeout: float | None = None,
    on_event: Callable[[int, TimedStep], object] | None = None,
) -> list[TimedOutcome]:
    """Contract: :meth:`shared.timeouts.Timeouts.run_jobs`."""
    job_list, limit, job_seconds, batch_seconds, event = check_batch_args(
        jobs, limit, job_timeout, batch_timeout, on_event
    )
    return await _run_batch(job_list, limit, job_seconds, batch_seconds, event)


@surfaces_caller_errors
async def retry(
    operation: Callable[[], Awaitable[T]],
    *,
    retry_on: type[Exception] | tuple[type[Exception], ...],
    attempts: int,
    base_delay: float,
    factor: float = 2.0,
    max_delay: float | None = None,
    timeout: float | None = None,
    on_retry: Callable[[int, Exception, float], object] | None = None,
) -> T:
    """Contract: :meth:`shared.timeouts.Timeouts.retry`."""
    kinds, delays, seconds, retrying = check_retry_args(
        operation, retry_on, attempts, base_delay, factor, max_delay, timeout, on_retry
    )
    failures: list[Exception] = []
    try:
        async with asyncio.timeout(seconds) as scope:
            return await _attempts(operation, kinds, delays, retrying, failures)
    except TimeoutError:
        # asyncio.timeout has no "move on" form: its own expiry and a TimeoutError that the
        # operation raised (not retryable, so it must pass through unchanged) look alike.
        if not scope.expired():
            raise
        raise DeadlineExceeded(seconds, len(failures)) from (failures[-1] if failures else None)
