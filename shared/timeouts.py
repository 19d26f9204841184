"""Contract: timeouts — a batch of jobs under two timeouts, and retry with backoff.

:class:`Timeouts` is the specification; ``impl_*/timeouts.py`` implement it. Jobs are
simulated (:class:`TimedJob` is a description: work and cleanup are sleeps), so the behaviour
suite can state exact scenarios and check them on a virtual clock.

How "which deadline stopped the job" is decided
-----------------------------------------------
Words for time follow Trio and AnyIO: a *timeout* is a number of seconds, a *deadline*
an absolute time on the loop's clock. Every job runs under ONE cancel scope whose deadline
is the earlier of its own (``job_timeout`` after it starts) and the batch's
(``batch_timeout`` after the call starts);
which of the two it was is decided by comparing the two numbers (:func:`stop_for`),
never by asking which scope caught the cancellation. Nested scopes (a batch scope around
a scope per job) would stop the job at the right moment, but name the wrong cause
whenever both deadlines are due by the time the loop wakes up: with a job timeout at
0.500 s and a batch deadline at 0.501 s on a loop that is busy from 0.45 s to 0.55 s,
both fire in the same iteration, and then trio's outer scope catches the ``Cancelled``
and ``asyncio.timeout``'s outer scope raises ``TimeoutError`` (checked on this machine).
Comparing the numbers is exact, on every loop, under any load.

The tie rule: when the two deadlines are the same instant, the overall deadline wins
(:attr:`TimedStatus.DEADLINE`). The batch is out of time, which is the more useful thing for a
caller to hear; nested scopes agree (trio and asyncio both report the outer scope at an
exact tie); and on a real clock a job starts at, or a little after, the call's start
(uvloop's clock counts whole milliseconds, so often exactly at it), which puts its own
deadline at or just after the batch's: the rule gives ``DEADLINE`` either way.

Cleanup
-------
A job's cleanup starts when its work ends (finished, timed out, stopped by the deadline,
or cancelled from outside) and always runs to completion, shielded from every
cancellation: the call never returns, and never lets a cancellation out, while a cleanup
is still running. Its time counts against neither the job's timeout nor its status, but
the overall deadline keeps running meanwhile, so a long cleanup can leave the next job
``NOT_STARTED``.

"No bound" is None in the contract and ``math.inf`` inside the implementations
(``shared.validation.require_bound``).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from shared.errors import caller_callback
from shared.validation import require_bound, require_int, require_items, require_seconds

__all__ = [
    "DeadlineExceeded",
    "TimedJob",
    "TimedStep",
    "TimedOutcome",
    "TimedStatus",
    "OnTimedStep",
    "OnRetry",
    "RetriesExhausted",
    "Timeouts",
]
"""The contract: what a caller of the workload may use."""
SUPPORT: tuple[str, ...] = ("backoff_delays", "check_batch_args", "check_retry_args", "stop_for")
"""Support code for the implementations, not contract: argument checks and bookkeeping
that the three packages share so that they record the same things the same way."""

T = TypeVar("T")
OnTimedStep = Callable[[int, "TimedStep"], object]
OnRetry = Callable[[int, Exception, float], object]


# --- Jobs and their outcomes ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimedJob:
    """A simulated job: ``work_seconds`` of work, then ``cleanup_seconds`` of async cleanup.

    ``work_seconds`` may be ``math.inf`` (a job that only a deadline stops); the cleanup
    must be finite, since nothing may cut it short.
    """

    name: str
    work_seconds: float
    cleanup_seconds: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"`name` must be a str, got {self.name!r}")
        require_seconds("work_seconds", self.work_seconds)
        require_seconds("cleanup_seconds", self.cleanup_seconds, finite=True)


class TimedStatus(enum.Enum):
    """How a job's work ended."""

    FINISHED = "finished"
    """The work completed before either deadline."""
    TIMED_OUT = "timed out"
    """The job's own ``job_timeout`` stopped it: it fell strictly before the overall deadline."""
    DEADLINE = "deadline"
    """The batch's deadline (``batch_timeout`` after the call) stopped it: it fell before, or at
    the same instant as, the job's own."""
    NOT_STARTED = "not started"
    """The overall deadline had passed when the job's turn came, so it never ran."""


class TimedStep(enum.Enum):
    """What ``on_event`` is told, in this order for each job that starts."""

    STARTED = "started"
    CLEANUP_STARTED = "cleanup started"
    CLEANED_UP = "cleaned up"
    """The cleanup ran to completion."""


@dataclass(frozen=True, slots=True)
class TimedOutcome:
    """What became of ``job``, the ``index``-th of the input."""

    index: int
    job: TimedJob
    status: TimedStatus
    cleaned_up: bool
    """Whether the job's cleanup ran to completion: True for every job that started (the
    call never returns before), False for ``NOT_STARTED`` (there was nothing to clean up)."""

    @property
    def name(self) -> str:
        return self.job.name


def stop_for(started: float, job_timeout: float, deadline: float) -> tuple[float, TimedStatus]:
    """When a job that starts at ``started`` is stopped, and the status it then gets.

    ``job_timeout`` is in seconds and ``deadline`` is the batch's deadline on the same
    clock as ``started``; either may be ``math.inf``. The job's own deadline wins only
    when strictly earlier; on a tie the overall deadline does (see the module docstring).
    """
    own = started + job_timeout
    if own < deadline:
        return own, TimedStatus.TIMED_OUT
    return deadline, TimedStatus.DEADLINE


# --- Errors --------------------------------------------------------------------------------


class DeadlineExceeded(TimeoutError):
    """:meth:`Timeouts.retry` ran past its deadline: ``timeout`` seconds after the call started.

    The one timeout type a caller sees on every flavour: never ``trio.TooSlowError``, nor a
    bare ``TimeoutError`` from ``asyncio.timeout`` or ``anyio.fail_after``. It subclasses
    ``TimeoutError``, so ``except TimeoutError`` catches it too. ``seconds`` is the
    ``timeout``; ``failed_attempts`` counts the attempts that failed before it passed (an
    attempt it cut short is not one). ``__cause__`` is the last of their errors, or None
    when the deadline cut the first attempt short.
    """

    def __init__(self, seconds: float, failed_attempts: int) -> None:
        super().__init__(f"the `timeout` of {seconds} s ran out after {failed_attempts} failed attempt(s)")
        self.seconds = seconds
        self.failed_attempts = failed_attempts


class RetriesExhausted(Exception):
    """Every one of the ``attempts`` of :meth:`Timeouts.retry` failed with a retryable error.

    ``__cause__`` is the last attempt's error; the same type on every flavour.
    """

    def __init__(self, attempts: int, last_error: Exception) -> None:
        super().__init__(f"all {attempts} attempt(s) failed; the last with {last_error!r}")
        self.attempts = attempts

    @property
    def last_error(self) -> BaseException | None:
        return self.__cause__


# --- The contract --------------------------------------------------------------------------


class Timeouts(Protocol):
    """What ``impl_asyncio.timeouts``, ``impl_trio.timeouts`` and ``impl_anyio.timeouts`` provide."""

    async def run_jobs(
        self,
        jobs: Iterable[TimedJob],
        *,
        limit: int,
        job_timeout: float | None = None,
        batch_timeout: float | None = None,
        on_event: Callable[[int, TimedStep], object] | None = None,
    ) -> list[TimedOutcome]:
        """Run ``jobs``, at most ``limit`` at once, and return one outcome per job, in input order.

        - [timeouts.start_order] Jobs start in input order; a job starts as soon as one of the
          ``limit`` slots is free, i.e. when an earlier job's cleanup has completed.
        - [timeouts.bounds] ``job_timeout`` (seconds from the job's start) bounds each job's
          work; ``batch_timeout`` (seconds from the call's start) bounds the whole batch. Either
          may be None (no bound). A job is stopped at the earlier of the two and reported
          ``TIMED_OUT`` or ``DEADLINE`` by :func:`stop_for`: on a tie, ``DEADLINE``.
        - [timeouts.not_started] A job whose turn comes at or after the overall deadline is
          ``NOT_STARTED``.
        - Work that would end at the very instant its deadline falls is a race between two
          timers on every loop; its status is unspecified.
        - [timeouts.cleanup] Every job that starts runs its cleanup to completion, shielded,
          whatever stopped the work; the call returns only after the last cleanup, so it can
          return after the overall deadline by up to the longest cleanup.
        - [timeouts.reported] Running out of either deadline is reported in the outcomes, never
          raised.
        - [timeouts.on_event] ``on_event(index, event)`` is called synchronously for each
          :class:`TimedStep`. An ``Exception`` from it stops the batch as a cancel would (each
          other running job's cleanup still completes) and then propagates as the very object
          raised, never in an ``ExceptionGroup`` (an ``ExceptionGroup`` of the caller's
          included). If it raises for several jobs in the same instant, one of those exceptions
          propagates.
        - [timeouts.cancel] A cancel from outside stops every running job's work, waits for
          their cleanups, and propagates as cancellation; no outcome is returned.
        - [timeouts.empty] An empty ``jobs`` returns ``[]``.

        Raises: [timeouts.args]
          TypeError: ``jobs`` not an iterable (or a single string); ``limit`` not an int;
            ``job_timeout`` or ``batch_timeout`` not a number or None; an item of ``jobs`` not a
            :class:`TimedJob`; ``on_event`` not callable or None.
          ValueError: ``limit`` < 1; ``job_timeout`` or ``batch_timeout`` <= 0 or NaN.
        """
        ...

    async def retry(
        self,
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
        """Await ``operation()`` until it returns, at most ``attempts`` times, all within ``timeout`` seconds.

        - [timeouts.retry.backoff] An attempt that raises an instance of ``retry_on`` is
          followed, if attempts are left, by a backoff sleep and the next attempt. Before the
          ``n``-th backoff (n = 1, 2, ...) ``on_retry(n, error, delay)`` is called with the
          failed attempt's number and error and the delay about to be slept: ``min(base_delay *
          factor ** (n - 1), max_delay)`` (:func:`backoff_delays`; no jitter, so the schedule is
          exact).
        - [timeouts.retry.other_errors] Any other exception propagates at once as the very
          object raised; it is not retried. So does an ``Exception`` from ``on_retry``.
        - [timeouts.retry.exhausted] When the last attempt fails with a retryable error,
          :class:`RetriesExhausted` is raised with ``attempts`` and that error as ``__cause__``.
        - [timeouts.retry.timeout] ``timeout`` (seconds from the call's start; None for no
          bound) covers attempts and sleeps alike: when it runs out, the attempt or sleep under
          way is cancelled and :class:`DeadlineExceeded` is raised, the same type on every
          flavour.
        - [timeouts.retry.cancel] A cancel from outside cancels the attempt or sleep under way
          and propagates as cancellation.

        Raises: [timeouts.retry.args]
          TypeError: ``operation`` or ``on_retry`` not callable; ``retry_on`` not an
            ``Exception`` subclass or a tuple of them (``BaseException`` subclasses such
            as the libraries' cancellation are refused: retrying them would swallow a
            cancel); a count or duration of the wrong type.
          ValueError: ``attempts`` < 1; ``base_delay`` or ``max_delay`` < 0 or NaN;
            ``factor`` < 1 or NaN; ``timeout`` <= 0 or NaN.
          RetriesExhausted: every attempt failed.
          DeadlineExceeded: the ``timeout`` ran out first.
        """
        ...


# --- Checks and schedules ------------------------------------------------------------------


def check_batch_args(
    jobs: Iterable[TimedJob],
    limit: object,
    job_timeout: object,
    batch_timeout: object,
    on_event: object,
) -> tuple[list[TimedJob], int, float, float, OnTimedStep]:
    """Validate :meth:`Timeouts.run_jobs`'s arguments; return jobs, limit, both bounds in
    seconds (``math.inf`` for None), and the ``on_event`` to call (a no-op for None)."""
    job_list = require_items("jobs", jobs, of="Jobs")
    for index, job in enumerate(job_list):
        if not isinstance(job, TimedJob):
            raise TypeError(f"`jobs[{index}]` must be a TimedJob, got {job!r}")
    checked_limit = require_int("limit", limit, minimum=1)
    checked_job_timeout = require_bound("job_timeout", job_timeout, zero=False)
    checked_batch_timeout = require_bound("batch_timeout", batch_timeout, zero=False)
    if on_event is not None and not callable(on_event):
        raise TypeError(f"`on_event` must be callable or None, got {on_event!r}")
    return (
        job_list,
        checked_limit,
        checked_job_timeout,
        checked_batch_timeout,
        # The caller's callback: its exception leaves the call as it is (shared.errors).
        caller_callback(on_event) if on_event is not None else _ignore_event,
    )


def _ignore_event(index: int, event: TimedStep) -> None:
    pass


def backoff_delays(attempts: int, base_delay: float, factor: float, max_delay: float) -> list[float]:
    """The ``attempts - 1`` sleeps between attempts: ``min(base_delay * factor ** k, max_delay)``.

    Computed by repeated multiplication, so a long schedule saturates at ``math.inf``
    (then capped by ``max_delay``) instead of overflowing.
    """
    delays, delay = [], base_delay
    for _ in range(attempts - 1):
        delays.append(min(delay, max_delay))
        delay *= factor
    return delays


def check_retry_args(
    operation: object,
    retry_on: object,
    attempts: object,
    base_delay: object,
    factor: object,
    max_delay: object,
    timeout: object,
    on_retry: object,
) -> tuple[tuple[type[Exception], ...], list[float], float, OnRetry]:
    """Validate :meth:`Timeouts.retry`'s arguments; return the retryable types as a tuple,
    the backoff schedule, the timeout in seconds (``math.inf`` for None) and the
    ``on_retry`` to call (a no-op for None)."""
    if not callable(operation):
        raise TypeError(f"`operation` must be callable, got {operation!r}")
    kinds = retry_on if isinstance(retry_on, tuple) else (retry_on,)
    if not kinds or not all(isinstance(kind, type) and issubclass(kind, Exception) for kind in kinds):
        raise TypeError(f"`retry_on` must be an Exception subclass or a tuple of them, got {retry_on!r}")
    checked_attempts = require_int("attempts", attempts, minimum=1)
    checked_base = require_seconds("base_delay", base_delay, finite=True)
    if not isinstance(factor, int | float) or isinstance(factor, bool):
        raise TypeError(f"`factor` must be a number, got {factor!r}")
    if math.isnan(factor) or factor < 1:
        raise ValueError(f"`factor` must be >= 1, got {factor!r}")
    if math.isinf(factor):  # 0 * inf is nan, a sleep asyncio takes and trio refuses
        raise ValueError(f"`factor` must be finite, got {factor!r}")
    checked_max = require_bound("max_delay", max_delay, zero=True)
    checked_timeout = require_bound("timeout", timeout, zero=False)
    if on_retry is not None and not callable(on_retry):
        raise TypeError(f"`on_retry` must be callable or None, got {on_retry!r}")
    delays = backoff_delays(checked_attempts, checked_base, float(factor), checked_max)
    return (
        kinds,
        delays,
        checked_timeout,
        # The caller's callback: its exception leaves the call as it is (shared.errors).
        caller_callback(on_retry) if on_retry is not None else _ignore_retry,
    )


def _ignore_retry(attempt: int, error: Exception, delay: float) -> None:
    pass
