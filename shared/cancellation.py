"""Contract: cancellation patterns, and cleanups that finish under cancellation.

Three ways a group of jobs ends early, each in the form a team would put in production:

- all or nothing (:meth:`Cancellation.run_all_or_nothing`): the first failure cancels the
  siblings, and the caller gets one error naming the failed job;
- first wins (:meth:`Cancellation.race_first`): the happy-eyeballs race of RFC 8305, as
  in trio's ``open_tcp_stream``: attempts start one after another, each ``stagger``
  seconds after the previous one or as soon as it fails; the first success wins and the
  rest are cancelled;
- graceful shutdown (:meth:`Cancellation.serve`): a worker pool that, when told to shut
  down, takes no more jobs, gives the jobs in flight ``grace`` seconds, then cancels them.

A job is data, a frozen :class:`Job`: it works for ``work_seconds`` (the library's own
sleep), then fails if it has an ``error``, and always ends with an async cleanup of
``cleanup_seconds`` that must run to its end even when the job is cancelled. That is the
point of this workload: trio and AnyIO finish such a cleanup inside a shielded cancel
scope, and asyncio, which has no such scope, runs it in a task of its own (``shielded`` in
``impl_asyncio.cancellation``) and waits for that task through every cancel before it lets
the cancellation through.

What counts as "started"
------------------------
A task cancelled before it first runs never runs at all under asyncio, but under Trio and
AnyIO it runs until its first checkpoint (divergence D03). So a job starts only once it
has passed a first checkpoint: a job cancelled before that is ``NOT_STARTED`` on every
flavour, reports no event and runs no cleanup, and every job that started runs its
cleanup to the end before the call returns or raises.

Nothing here depends on which of two tasks ready at the same moment runs first (Trio
shuffles them, asyncio runs them in order): outcomes are reported per job, in input order.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from shared.errors import caller_callback
from shared.validation import require_bound, require_int, require_items, require_seconds

__all__ = [
    "AllJobsFailed",
    "Cancellation",
    "Job",
    "JobEvent",
    "JobFailed",
    "JobOutcome",
    "JobStatus",
    "OnJobEvent",
    "RaceResult",
    "ServeReport",
    "ShutdownSignal",
    "JobStep",
]
"""The contract: what a caller of the workload may use."""
SUPPORT: tuple[str, ...] = ("JobLedger", "check_jobs", "check_race_args", "check_serve_args")
"""Support code for the implementations, not contract: argument checks and bookkeeping
that the three packages share so that they record the same things the same way."""


# --- Jobs --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Job:
    """One job: work for ``work_seconds``, fail if ``error`` is set, then clean up.

    ``error`` is an exception *type*: a failing job raises a fresh
    ``error(f"simulated failure of job {name!r}")`` each time it runs, so one ``Job`` can be
    run again and again (by a benchmark, on every flavour) without sharing an exception.

    Raises (on construction):
      TypeError: "`name` must be a str, got 3", "`work_seconds` must be a number of
        seconds, got '1'", "`error` must be an Exception subclass or None, got ...".
      ValueError: "`name` must not be empty", "`cleanup_seconds` must be >= 0, got -1"
        (also for NaN), "`work_seconds` must be finite, got inf".
    """

    name: str
    work_seconds: float = 0.0
    error: type[Exception] | None = None
    cleanup_seconds: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"`name` must be a str, got {self.name!r}")
        if not self.name:
            raise ValueError("`name` must not be empty")
        object.__setattr__(self, "work_seconds", require_seconds("work_seconds", self.work_seconds, finite=True))
        if self.error is not None and not (isinstance(self.error, type) and issubclass(self.error, Exception)):
            raise TypeError(f"`error` must be an Exception subclass or None, got {self.error!r}")
        object.__setattr__(
            self, "cleanup_seconds", require_seconds("cleanup_seconds", self.cleanup_seconds, finite=True)
        )

    def failure(self) -> Exception | None:
        """A fresh instance of the error this job raises, or None if it succeeds."""
        return None if self.error is None else self.error(f"simulated failure of job {self.name!r}")


# --- What happened to each job -----------------------------------------------------------------


class JobStep(enum.Enum):
    """One step of a job, as told to the caller's ``on_event``.

    Every job that starts logs ``STARTED``, then exactly one of ``SUCCEEDED``, ``FAILED``
    or ``CANCELLED``, then ``CLEANED_UP`` when its cleanup has run to its end. A job that
    never started logs nothing.
    """

    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    CLEANED_UP = "cleaned up"


class JobStatus(enum.Enum):
    """How a job ended."""

    NOT_STARTED = "not started"
    """Never launched, or cancelled before its first checkpoint; its cleanup did not run."""
    SUCCEEDED = "succeeded"
    """Its work ran to the end (a cancel that arrived during its cleanup does not change this)."""
    FAILED = "failed"
    """It raised its ``error``."""
    CANCELLED = "cancelled"
    """It was cancelled during its work."""


@dataclass(frozen=True, slots=True)
class JobEvent:
    """What the caller's ``on_event`` receives, as it happens."""

    job: str
    step: JobStep


OnJobEvent = Callable[[JobEvent], None]
"""The caller's ``on_event`` callback: called synchronously, in the job's task, at every :class:`JobStep`.
It must not block. An ``Exception`` it raises stops the call as a cancel from outside
would (every other started job's cleanup still runs to its end) and then propagates as
the very object raised, never in an ``ExceptionGroup`` (the caller's own included)."""


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """How job ``name`` ended."""

    name: str
    status: JobStatus
    cleaned_up: bool
    """Its cleanup ran to the end: True for every job that started, False otherwise."""
    error: Exception | None = None
    """The exception it raised, when ``status`` is ``FAILED``."""


class JobLedger:
    """The record of one call: each job's status, and each event told to ``on_event`` at once.

    Implementations call :meth:`record` from inside the jobs' tasks. The loop runs one task
    at a time, so the ledger needs no lock. Support code, not contract.
    """

    def __init__(self, jobs: Sequence[Job], on_event: OnJobEvent | None) -> None:
        self._names = [job.name for job in jobs]
        # The caller's callback: its exception leaves the call as it is (shared.errors).
        self._on_event = caller_callback(on_event) if on_event is not None else None
        self._statuses: dict[str, JobStatus] = dict.fromkeys(self._names, JobStatus.NOT_STARTED)
        self._cleaned_up: set[str] = set()
        self._errors: dict[str, Exception] = {}  # in the order the jobs failed

    def record(self, job: Job, step: JobStep, error: Exception | None = None) -> None:
        if step in (JobStep.SUCCEEDED, JobStep.FAILED, JobStep.CANCELLED):
            self._statuses[job.name] = JobStatus(step.value)
        if step is JobStep.CLEANED_UP:
            self._cleaned_up.add(job.name)
        if error is not None:
            self._errors[job.name] = error
        if self._on_event is not None:
            self._on_event(JobEvent(job.name, step))

    def outcomes(self) -> tuple[JobOutcome, ...]:
        """One outcome per job, in input order."""
        return tuple(
            JobOutcome(name, self._statuses[name], name in self._cleaned_up, self._errors.get(name))
            for name in self._names
        )

    def failure(self, error: BaseException) -> BaseException:
        """What the call raises when its task group let ``error`` out (see ``shared.errors.one_error``).

        A job's own error (this very object) becomes :class:`JobFailed` naming that job,
        with the error as ``__cause__``; anything else (the caller's exception, the
        library's cancellation) is raised as it is.
        """
        for name, failed in self._errors.items():
            if failed is error:
                job_failed = JobFailed(name, failed, self.outcomes())
                job_failed.__cause__ = failed
                return job_failed
        return error


# --- Results and errors ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RaceResult:
    """The end of a :meth:`Cancellation.race_first` that some job won."""

    winner: str
    """The name of the job that succeeded first."""
    outcomes: tuple[JobOutcome, ...]
    """Every job's outcome, in input order."""


@dataclass(frozen=True, slots=True)
class ServeReport:
    """The end of a :meth:`Cancellation.serve` call."""

    outcomes: tuple[JobOutcome, ...]
    """Every job's outcome, in input order."""
    shutdown_requested: bool
    """The shutdown signal came before the backlog was done."""

    @property
    def completed(self) -> int:
        """Jobs that ran to the end."""
        return self._count(JobStatus.SUCCEEDED)

    @property
    def failed(self) -> int:
        """Jobs that raised their error (the service went on without them)."""
        return self._count(JobStatus.FAILED)

    @property
    def cancelled(self) -> int:
        """Jobs still in flight when the grace period ran out."""
        return self._count(JobStatus.CANCELLED)

    @property
    def never_taken(self) -> int:
        """Jobs that never started."""
        return self._count(JobStatus.NOT_STARTED)

    def _count(self, status: JobStatus) -> int:
        return sum(outcome.status is status for outcome in self.outcomes)


class JobFailed(Exception):
    """A job failed under :meth:`Cancellation.run_all_or_nothing`; ``__cause__`` is its error.

    The same type on every flavour, never an ``ExceptionGroup``. Raised after every other
    job was cancelled and every started job's cleanup ran to its end.
    """

    def __init__(self, job: str, error: Exception, outcomes: tuple[JobOutcome, ...]) -> None:
        super().__init__(f"job {job!r} failed, so the others were cancelled: {type(error).__name__}: {error}")
        self.job = job
        """The name of the job that failed."""
        self.error = error
        self.outcomes = outcomes
        """Every job's outcome, in input order."""


class AllJobsFailed(Exception):
    """Every job of a :meth:`Cancellation.race_first` failed.

    One type on every flavour, never an ``ExceptionGroup``: ``errors`` holds each job's
    name and exception, in input order.
    """

    def __init__(self, errors: tuple[tuple[str, Exception], ...], outcomes: tuple[JobOutcome, ...]) -> None:
        listed = ", ".join(f"{name!r}: {type(error).__name__}" for name, error in errors)
        super().__init__(f"all {len(errors)} jobs failed: {listed}")
        self.errors = errors
        self.outcomes = outcomes

    @classmethod
    def from_outcomes(cls, outcomes: tuple[JobOutcome, ...]) -> AllJobsFailed:
        return cls(tuple((o.name, o.error) for o in outcomes if o.error is not None), outcomes)


# --- The shutdown signal -----------------------------------------------------------------------


class ShutdownSignal:
    """A one-shot request to shut a :meth:`Cancellation.serve` call down, the same on every flavour.

    :meth:`request` is synchronous, so it can be called from any task of the loop that runs
    ``serve`` (or from a job's ``on_event``), from a loop callback such as a handler installed
    with ``loop.add_signal_handler``, or before the call starts. It is not thread-safe:
    from another thread, go through the loop (``loop.call_soon_threadsafe``,
    ``trio.from_thread.run_sync``).
    """

    __slots__ = ("_listeners", "_requested")

    def __init__(self) -> None:
        self._requested = False
        self._listeners: list[Callable[[], object]] = []

    @property
    def requested(self) -> bool:
        return self._requested

    def request(self) -> None:
        """Ask for the shutdown; asking again does nothing."""
        if not self._requested:
            self._requested = True
            for listener in list(self._listeners):
                listener()

    @contextmanager
    def listen(self, callback: Callable[[], object]) -> Iterator[None]:
        """For implementations: call ``callback`` (synchronously) when the shutdown is
        requested while the block runs, or at once if it already was."""
        if self._requested:
            callback()
        self._listeners.append(callback)
        try:
            yield
        finally:
            self._listeners.remove(callback)


# --- The contract ------------------------------------------------------------------------------


class Cancellation(Protocol):
    """What ``impl_asyncio.cancellation``, ``impl_trio.cancellation`` and ``impl_anyio.cancellation`` provide.

    [cancellation.cleanup] Every call runs each job as described by :class:`Job` and tells
    ``on_event`` (if given) every :class:`JobStep`. A job starts only after a first checkpoint,
    and every job that starts runs its cleanup to the end before the call returns or raises,
    whether it succeeded, failed or was cancelled (its cleanup is shielded from cancellation).

    [cancellation.cancel] A cancel from outside the call (the caller's timeout or cancel scope)
    cancels every job still working, lets every started job's cleanup finish, leaves no task
    behind and propagates as the library's own cancellation. Once a call has decided its end (a
    job failed or won, or the grace period ran out), a cancel that arrives while the cleanups
    finish may instead let that end through: which one wins then is the library's rule.
    """

    async def run_all_or_nothing(
        self, jobs: Iterable[Job], *, on_event: OnJobEvent | None = None
    ) -> tuple[JobOutcome, ...]:
        """Run every job at once; if one fails, cancel the others and raise :class:`JobFailed`.

        - [cancellation.all.success] Every job starts at once; with no failure, return every
          outcome (all ``SUCCEEDED``, all cleaned up), in input order.
        - [cancellation.all.failure] When a job fails, its error leaves the job once its own
          cleanup is done; the jobs still working are then cancelled (``CANCELLED``), a job
          already in its cleanup finishes it (``SUCCEEDED``), and once every cleanup has run to
          its end the call raises :class:`JobFailed` naming the failed job, with its error as
          ``__cause__`` and every outcome in ``outcomes``.
        - [cancellation.all.together] If jobs fail at the same moment, one of them is named
          (which one is not specified); the others are ``FAILED`` in ``outcomes``.
        - [cancellation.all.on_event] An exception from ``on_event`` (see :data:`OnJobEvent`)
          wins over a job's failure: it propagates as itself, not as :class:`JobFailed`.
        - [cancellation.all.empty] No jobs: return ``()``.

        Raises: [cancellation.all.args]
          TypeError: ``jobs`` is not an iterable (or is a single string), or holds something
            that is not a :class:`Job`; ``on_event`` is not callable or None.
          ValueError: two jobs have the same name.
          JobFailed: a job failed.
        """
        ...

    async def race_first(
        self, jobs: Iterable[Job], *, stagger: float | None = 0.25, on_event: OnJobEvent | None = None
    ) -> RaceResult:
        """Happy eyeballs: start the jobs one by one; the first to succeed wins, the rest are cancelled.

        - [cancellation.race.stagger] Jobs start in input order. Each next job starts
          ``stagger`` seconds after the previous one, or as soon as the previous one fails,
          whichever comes first. ``stagger=0`` starts them all at once; ``None`` (or
          ``math.inf``) starts the next one only when the previous one has failed: a plain
          fallback chain.
        - [cancellation.race.winner] A job succeeds when its work and its cleanup are done. The
          first to succeed wins: the jobs still working are cancelled (``CANCELLED``), the jobs
          not yet started never start (``NOT_STARTED``), and once every cleanup has run to its
          end the call returns a :class:`RaceResult` naming the winner. If jobs succeed at the
          same moment, one of them wins (which one is not specified).
        - [cancellation.race.all_fail] If every job fails, raise :class:`AllJobsFailed` with
          every job's error, in input order.

        Raises: [cancellation.race.args]
          TypeError: as for :meth:`run_all_or_nothing`; ``stagger`` is not a number or None.
          ValueError: as for :meth:`run_all_or_nothing`; no jobs; ``stagger`` < 0 or NaN.
          AllJobsFailed: every job failed.
        """
        ...

    async def serve(
        self,
        jobs: Iterable[Job],
        *,
        workers: int,
        grace: float | None,
        shutdown: ShutdownSignal,
        on_event: OnJobEvent | None = None,
    ) -> ServeReport:
        """A worker service: ``workers`` workers take the ``jobs`` backlog in order until ``shutdown``.

        - [cancellation.serve.workers] Each worker takes the next job of the backlog, runs it,
          and takes the next, so at most ``workers`` jobs are in flight, and with a backlog of
          at least ``workers`` jobs exactly ``workers`` are at first. A failing job is recorded
          (``FAILED``) and its worker goes on: one bad job does not stop the service.
        - [cancellation.serve.shutdown] When ``shutdown.request()`` is called (or was, before
          the call), the workers take no more jobs; the jobs in flight get ``grace`` seconds to
          finish. Those still working then are cancelled (``CANCELLED``). The call returns as
          soon as the last job in flight has ended and been cleaned up, without waiting for the
          rest of the grace period. ``grace=0`` cancels them at once; ``None`` (or ``math.inf``)
          waits for them however long they take.
        - [cancellation.serve.backlog_done] When the backlog is done before any shutdown, the
          call returns.
        - [cancellation.serve.report] The :class:`ServeReport` counts: ``completed``,
          ``failed``, ``cancelled`` (still working when the grace ran out) and ``never_taken``
          (never started; a job a worker had picked but that was cancelled before its first
          checkpoint counts here too).

        Raises: [cancellation.serve.args]
          TypeError: as for :meth:`run_all_or_nothing`; ``workers`` is not an int, ``grace``
            not a number or None, ``shutdown`` not a :class:`ShutdownSignal`.
          ValueError: as for :meth:`run_all_or_nothing`; ``workers`` < 1; ``grace`` < 0 or NaN.
        """
        ...


# --- Argument checks ---------------------------------------------------------------------------


def check_jobs(jobs: Iterable[Job], on_event: OnJobEvent | None) -> tuple[Job, ...]:
    """Validate the ``jobs`` and ``on_event`` of every call; return the jobs as a tuple."""
    job_list = tuple(require_items("jobs", jobs, of="Jobs"))
    seen: set[str] = set()
    for index, job in enumerate(job_list):
        if not isinstance(job, Job):
            raise TypeError(f"`jobs[{index}]` must be a Job, got {job!r}")
        if job.name in seen:
            raise ValueError(f"`jobs[{index}]` has the name of an earlier job: {job.name!r}")
        seen.add(job.name)
    if on_event is not None and not callable(on_event):
        raise TypeError(f"`on_event` must be callable or None, got {on_event!r}")
    return job_list


def check_race_args(jobs: Iterable[Job], stagger: object, on_event: OnJobEvent | None) -> tuple[tuple[Job, ...], float]:
    """Validate the arguments of :meth:`Cancellation.race_first`."""
    job_list = check_jobs(jobs, on_event)
    if not job_list:
        raise ValueError("`jobs` must hold at least one job")
    return job_list, require_bound("stagger", stagger, zero=True)


def check_serve_args(
    jobs: Iterable[Job], workers: object, grace: object, shutdown: object, on_event: OnJobEvent | None
) -> tuple[tuple[Job, ...], int, float]:
    """Validate the arguments of :meth:`Cancellation.serve`."""
    job_list = check_jobs(jobs, on_event)
    checked_workers = require_int("workers", workers, minimum=1)
    checked_grace = require_bound("grace", grace, zero=True)
    if not isinstance(shutdown, ShutdownSignal):
        raise TypeError(f"`shutdown` must be a ShutdownSignal, got {shutdown!r}")
    return job_list, checked_workers, checked_grace
