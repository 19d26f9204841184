"""Cancellation patterns in AnyIO: task groups, cancel scopes, and shielded cleanups.

Contract and docstrings: :class:`shared.cancellation.Cancellation`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import suppress

import anyio
from anyio.abc import TaskGroup

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


# --- One job -----------------------------------------------------------------------------------


async def _clean_up(job: Job, ledger: JobLedger) -> None:
    await anyio.sleep(job.cleanup_seconds)
    ledger.record(job, JobStep.CLEANED_UP)


async def _run_job(job: Job, ledger: JobLedger) -> None:
    # A job starts after its first checkpoint. Depending on the backend, a task cancelled
    # before it first runs never runs at all, or runs up to here and stops at this
    # checkpoint: either way the job never started.
    await anyio.lowlevel.checkpoint()
    ledger.record(job, JobStep.STARTED)
    try:
        await anyio.sleep(job.work_seconds)
        if (error := job.failure()) is not None:
            ledger.record(job, JobStep.FAILED, error)
            raise error
        ledger.record(job, JobStep.SUCCEEDED)
    except anyio.get_cancelled_exc_class():
        ledger.record(job, JobStep.CANCELLED)
        raise
    finally:
        # Level-triggered on every backend: in a cancelled scope every await here is
        # cancelled again, and the cancellation would replace the job's own error. The
        # shield lets the cleanup finish; the cancel lands at the next checkpoint after it.
        with anyio.CancelScope(shield=True):
            await _clean_up(job, ledger)
        # A cancel from outside that came during the cleanup was held off by its shield, and
        # nothing has checkpointed since: raise it here, before the job counts as done.
        await anyio.lowlevel.checkpoint_if_cancelled()


# --- First-wins race ---------------------------------------------------------------------------
#
# The structure of trio's own happy eyeballs (open_tcp_stream), which AnyIO's
# connect_tcp follows too: the race body starts an attempt, then waits `stagger` seconds
# or until that attempt fails, and starts the next. The winner cancels the task group's
# scope, which stops the other attempts and the body.


async def _attempt(job: Job, ledger: JobLedger, failed: anyio.Event, race: TaskGroup, winners: list[str]) -> None:
    try:
        await _run_job(job, ledger)
    except Exception:
        failed.set()  # recorded by the ledger; start the next attempt now
        return
    winners.append(job.name)
    race.cancel_scope.cancel()


# --- Graceful shutdown -------------------------------------------------------------------------
#
# The pool of workers runs inside a cancel scope with no deadline until the shutdown
# comes; then the watcher sets the scope's deadline to now + grace, from its own task.


async def _worker(backlog: Iterator[Job], stop_taking: anyio.Event, ledger: JobLedger) -> None:
    # Check before taking: a job taken after the shutdown would never run.
    while not stop_taking.is_set() and (job := next(backlog, None)) is not None:
        # A failed job is recorded by the ledger; the service outlives it.
        with suppress(Exception):
            await _run_job(job, ledger)


async def _expire_after_grace(stop_taking: anyio.Event, pool: anyio.CancelScope, grace: float) -> None:
    await stop_taking.wait()
    pool.deadline = anyio.current_time() + grace


# --- Public API --------------------------------------------------------------------------------


@surfaces_caller_errors
async def run_all_or_nothing(jobs: Iterable[Job], *, on_event: OnJobEvent | None = None) -> tuple[JobOutcome, ...]:
    """Contract: :meth:`shared.cancellation.Cancellation.run_all_or_nothing`."""
    job_list = check_jobs(jobs, on_event)
    ledger = JobLedger(job_list, on_event)
    try:
        async with anyio.create_task_group() as all_jobs:
            for job in job_list:
                all_jobs.start_soon(_run_job, job, ledger)
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
        async with anyio.create_task_group() as race:
            for job in job_list:
                failed = anyio.Event()
                race.start_soon(_attempt, job, ledger, failed, race, winners)
                # The attempt's head start: `stagger` seconds, cut short if it fails sooner.
                with anyio.move_on_after(stagger):
                    await failed.wait()
    except BaseExceptionGroup as group:
        # Only `on_event` can fail an attempt here: the attempts keep their jobs' errors.
        raise one_error(group)
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
    stop_taking = anyio.Event()
    with shutdown.listen(stop_taking.set):
        try:
            async with anyio.create_task_group() as service:
                # The scope catches its own Cancelled: the grace ran out, and the jobs still
                # working were cancelled.
                with anyio.CancelScope() as pool_deadline:
                    service.start_soon(_expire_after_grace, stop_taking, pool_deadline, grace)
                    async with anyio.create_task_group() as pool:
                        for _ in range(min(workers, len(job_list))):
                            pool.start_soon(_worker, backlog, stop_taking, ledger)
                shutdown_requested = stop_taking.is_set()
                # The pool is done: stop waiting for a shutdown.
                service.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # Only `on_event` can fail a worker (the workers keep their jobs' errors), and its
            # exception goes out as it is, from however deep in the pool it came.
            raise one_error(group)
    return ServeReport(ledger.outcomes(), shutdown_requested)
