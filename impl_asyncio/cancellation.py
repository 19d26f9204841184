"""Cancellation patterns in raw asyncio: TaskGroups, asyncio.timeout, and cleanups in a task of their own.

Contract and docstrings: :class:`shared.cancellation.Cancellation`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable, Iterator
from contextlib import suppress
from typing import Any

from shared.cancellation import (
    AllJobsFailed,
    Job,
    JobLedger,
    JobOutcome,
    JobStep,
    OnJobEvent,
    RaceResult,
    ServeReport,
    ShutdownSignal,
    check_jobs,
    check_race_args,
    check_serve_args,
)
from shared.errors import one_error, surfaces_caller_errors

__all__ = ["run_all_or_nothing", "race_first", "serve"]


# --- Only in asyncio: the stand-in for a shielded cancel scope, used by timeouts too ------------


async def shielded(cleanup: Coroutine[Any, Any, None]) -> None:
    """Run ``cleanup`` to its end even if this task is cancelled meanwhile; then let the cancel through.

    Trio and AnyIO write ``with CancelScope(shield=True): await cleanup()``; ``cancellation``
    and ``timeouts`` call ``shielded`` at the same place (so it is outside ``__all__``, not
    private). ``asyncio.shield()`` alone is not a shielded scope: at the first cancel its
    waiter gets CancelledError at once while the shielded work runs on, owned by nobody
    (divergence D05), so the call could return, or the caller's cancel complete, with a
    cleanup still running. Here the cleanup gets a task of its own, and this task waits for
    it through every cancel and re-raises the first cancellation once the cleanup is done.
    asyncio's cancellation is edge-triggered, so the waits after a CancelledError run on
    unless someone cancels again. If the cleanup itself failed, its error goes out instead
    of the cancel, as it does out of a shielded scope.
    """
    task = asyncio.create_task(cleanup)
    cancelled: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError as exc:
            cancelled = exc
    if cancelled is not None and task.exception() is None:
        raise cancelled
    task.result()


# --- One job -----------------------------------------------------------------------------------


async def _clean_up(job: Job, ledger: JobLedger) -> None:
    await asyncio.sleep(job.cleanup_seconds)
    ledger.record(job, JobStep.CLEANED_UP)


async def _run_job(job: Job, ledger: JobLedger) -> None:
    # A job starts after its first checkpoint. A task cancelled before it first runs never
    # runs at all here, and one cancelled at this sleep(0) stops at it: either way the job
    # never started, as under trio, where a cancelled task runs up to its first checkpoint.
    await asyncio.sleep(0)
    ledger.record(job, JobStep.STARTED)
    try:
        await asyncio.sleep(job.work_seconds)
        if (error := job.failure()) is not None:
            ledger.record(job, JobStep.FAILED, error)
            raise error
        ledger.record(job, JobStep.SUCCEEDED)
    except asyncio.CancelledError:
        ledger.record(job, JobStep.CANCELLED)
        raise
    finally:
        # A plain await here would survive the cancel that ended the work (edge-triggered),
        # but not one that lands during the cleanup: a finished job still cleaning up when a
        # sibling fails or wins, or a second cancel.
        await shielded(_clean_up(job, ledger))
        # No check for a pending cancel here (Trio and AnyIO need one): shielded() re-raises a
        # cancel from outside that came during the cleanup as soon as the cleanup is done.


# --- Only in asyncio: a TaskGroup has no cancel scope, so the winner stops it by raising ------


class _RaceWon(Exception):
    """Raised by the winning attempt: the TaskGroup cancels every other attempt and its body.

    The asyncio docs' recipe for "Terminating a Task Group" (an exception the caller then
    ignores); trio and AnyIO cancel the group's own cancel scope instead.
    """


# --- First-wins race ---------------------------------------------------------------------------
#
# Trio's happy eyeballs (open_tcp_stream) in asyncio: the race body starts an attempt, then
# waits `stagger` seconds or until that attempt ends, and starts the next. asyncio.wait()
# is that wait: it times out without cancelling the task it waits for.


async def _attempt(job: Job, ledger: JobLedger, winners: list[str]) -> None:
    try:
        await _run_job(job, ledger)
    except Exception:
        return  # recorded by the ledger; the race body sees this task end and starts the next
    winners.append(job.name)
    raise _RaceWon


# --- Graceful shutdown -------------------------------------------------------------------------
#
# The pool of workers runs inside asyncio.timeout(None): no deadline until the shutdown
# comes, and then the watcher moves the deadline to now + grace with Timeout.reschedule(),
# the asyncio form of setting a trio cancel scope's deadline from another task.


async def _worker(backlog: Iterator[Job], stop_taking: asyncio.Event, ledger: JobLedger) -> None:
    # Check before taking: a job taken after the shutdown would never run.
    while not stop_taking.is_set() and (job := next(backlog, None)) is not None:
        # A failed job is recorded by the ledger; the service outlives it.
        with suppress(Exception):
            await _run_job(job, ledger)


async def _expire_after_grace(stop_taking: asyncio.Event, pool: asyncio.Timeout, grace: float) -> None:
    await stop_taking.wait()
    pool.reschedule(asyncio.get_running_loop().time() + grace)


# --- Public API --------------------------------------------------------------------------------


@surfaces_caller_errors
async def run_all_or_nothing(jobs: Iterable[Job], *, on_event: OnJobEvent | None = None) -> tuple[JobOutcome, ...]:
    """Contract: :meth:`shared.cancellation.Cancellation.run_all_or_nothing`."""
    job_list = check_jobs(jobs, on_event)
    ledger = JobLedger(job_list, on_event)
    try:
        async with asyncio.TaskGroup() as all_jobs:
            for job in job_list:
                all_jobs.create_task(_run_job(job, ledger))
    except BaseExceptionGroup as group:
        # A job's error becomes JobFailed; the caller's own (from `on_event`) goes out as it is.
        raise ledger.failure(one_error(group))
    return ledger.outcomes()


@surfaces_caller_errors
async def race_first(
    jobs: Iterable[Job], *, stagger: float | None = 0.25, on_event: OnJobEvent | None = None
) -> RaceResult:
    """Contract: :meth:`shared.cancellation.Cancellation.race_first`."""
    job_list, stagger = check_race_args(jobs, stagger, on_event)
    ledger = JobLedger(job_list, on_event)
    winners: list[str] = []
    try:
        async with asyncio.TaskGroup() as race:
            for job in job_list:
                attempt = race.create_task(_attempt(job, ledger, winners))
                # The attempt's head start: `stagger` seconds, cut short if it fails sooner.
                await asyncio.wait([attempt], timeout=stagger)
    except BaseExceptionGroup as group:
        # The winner's _RaceWon ended the race; anything else goes out.
        if not isinstance(error := one_error(group, failure=_RaceWon), _RaceWon):
            raise error
    if winners:
        return RaceResult(winners[0], ledger.outcomes())
    raise AllJobsFailed.from_outcomes(ledger.outcomes())


@surfaces_caller_errors
async def serve(
    jobs: Iterable[Job],
    *,
    workers: int,
    grace: float | None,
    shutdown: ShutdownSignal,
    on_event: OnJobEvent | None = None,
) -> ServeReport:
    """Contract: :meth:`shared.cancellation.Cancellation.serve`."""
    job_list, workers, grace = check_serve_args(jobs, workers, grace, shutdown, on_event)
    ledger = JobLedger(job_list, on_event)
    backlog = iter(job_list)
    stop_taking = asyncio.Event()
    with shutdown.listen(stop_taking.set):
        try:
            async with asyncio.TaskGroup() as service:
                # TimeoutError: the grace ran out, and the jobs still working were cancelled.
                with suppress(TimeoutError):
                    async with asyncio.timeout(None) as pool_deadline:
                        watcher = service.create_task(_expire_after_grace(stop_taking, pool_deadline, grace))
                        async with asyncio.TaskGroup() as pool:
                            for _ in range(min(workers, len(job_list))):
                                pool.create_task(_worker(backlog, stop_taking, ledger))
                shutdown_requested = stop_taking.is_set()
                # The pool is done: stop waiting for a shutdown. No await since the pool ended,
                # so the watcher cannot have touched the finished timeout.
                watcher.cancel()
        except BaseExceptionGroup as group:
            # Only `on_event` can fail a worker (the workers keep their jobs' errors), and its
            # exception goes out as it is, from however deep in the pool it came.
            raise one_error(group)
    return ServeReport(ledger.outcomes(), shutdown_requested)
