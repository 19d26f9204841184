"""Timeouts behaviour (contract: shared.timeouts.Timeouts) on every flavour.

Time is virtual wherever the flavour has a virtual clock (trio's MockClock on trio and
anyio-on-trio, looptime on stdlib asyncio), so there the scenarios below play out exactly
and at once. The two uvloop flavours have no virtual clock and run in real time, so every
scenario is decided by wide margins: a job that a deadline must stop never ends by
itself (``math.inf``), and every event that must come before another comes at least
0.05 s earlier (0.1 s or more in all but one test), so a busy machine cannot reorder
them. Durations are powers of two where the virtual clocks must compare sums exactly.

Delays and elapsed times measured on the loop's clock are exact on the virtual clocks; on
uvloop's real one they are at least the requested time (less 10 ms, for uvloop's
millisecond timers), and no upper bound holds on a busy machine (``assert_durations``).
The exact backoff schedule is asserted through ``on_retry``, which is told the delay
requested.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from shared.timeouts import DeadlineExceeded, RetriesExhausted, TimedJob, TimedOutcome, TimedStatus, TimedStep, Timeouts
from tests.helpers import Run, assert_durations
from triptych.flavours import Flavour

FINISHED, TIMED_OUT, DEADLINE, NOT_STARTED = (
    TimedStatus.FINISHED,
    TimedStatus.TIMED_OUT,
    TimedStatus.DEADLINE,
    TimedStatus.NOT_STARTED,
)
LIFECYCLE = [TimedStep.STARTED, TimedStep.CLEANUP_STARTED, TimedStep.CLEANED_UP]
Log = list[tuple[int, TimedStep] | str]


class Flaky(Exception):
    """The retryable error of the retry tests."""


def _recorder(log: Log) -> Callable[[int, TimedStep], None]:
    def on_event(index: int, event: TimedStep) -> None:
        log.append((index, event))

    return on_event


def _lifecycle(log: Log, index: int) -> list[TimedStep]:
    return [entry[1] for entry in log if isinstance(entry, tuple) and entry[0] == index]


def _statuses(outcomes: list[TimedOutcome]) -> list[tuple[int, str, TimedStatus, bool]]:
    return [(o.index, o.name, o.status, o.cleaned_up) for o in outcomes]


# --- The batch -----------------------------------------------------------------------------


@pytest.mark.clause("timeouts.bounds", "timeouts.reported")
def test_each_outcome_names_what_stopped_the_job(flavour: Flavour, timeouts: Timeouts, run: Run) -> None:
    # One at a time, job timeout 0.25 s, overall deadline 0.5 s, each cleanup 0.0625 s:
    #   quick  0      -> 0.0625  finished, cleaned up at 0.0625
    #   slow   0.0625 -> 0.3125  its own timeout (0.3125 < 0.5), cleaned up at 0.375
    #   late   0.375  -> 0.5     the deadline (0.5 < its own 0.625), cleaned up at 0.5625
    #   never  its turn comes at 0.5625, after the deadline
    jobs = [
        TimedJob("quick", 0, 0.0625),
        TimedJob("slow", math.inf, 0.0625),
        TimedJob("late", math.inf, 0.0625),
        TimedJob("never", 0, 0.0625),
    ]
    log: Log = []

    async def scenario() -> tuple[list[TimedOutcome], float]:
        start = await flavour.current_time()
        outcomes = await timeouts.run_jobs(jobs, limit=1, job_timeout=0.25, batch_timeout=0.5, on_event=_recorder(log))
        return outcomes, await flavour.current_time() - start

    outcomes, elapsed = run.virtual(scenario)

    assert _statuses(outcomes) == [
        (0, "quick", FINISHED, True),
        (1, "slow", TIMED_OUT, True),
        (2, "late", DEADLINE, True),
        (3, "never", NOT_STARTED, False),
    ]
    assert [o.job for o in outcomes] == jobs
    # Every job that started ran its whole cleanup, in order; the one that never started has none.
    assert [_lifecycle(log, index) for index in range(4)] == [LIFECYCLE, LIFECYCLE, LIFECYCLE, []]
    assert log.count((2, TimedStep.CLEANED_UP)) == 1
    assert_durations(flavour, [elapsed], [0.5625])


TIE_CASES = [
    # (id, job_timeout, deadline, work of each job, statuses)
    ("job-timeout-first", 0.125, 0.25, [math.inf], [TIMED_OUT]),
    ("deadline-first", 0.25, 0.125, [math.inf], [DEADLINE]),
    ("tie-goes-to-the-deadline", 0.125, 0.125, [math.inf], [DEADLINE]),
    # The second job starts at 0.125, so its own deadline (0.25) meets the overall one.
    ("tie-for-a-later-job", 0.125, 0.25, [math.inf, math.inf], [TIMED_OUT, DEADLINE]),
]


@pytest.mark.parametrize(
    ("job_timeout", "batch_timeout", "work", "expected"),
    [case[1:] for case in TIE_CASES],
    ids=[case[0] for case in TIE_CASES],
)
@pytest.mark.clause("timeouts.bounds")
def test_the_earlier_deadline_is_reported_and_a_tie_goes_to_the_overall_deadline(
    timeouts: Timeouts,
    run: Run,
    job_timeout: float,
    batch_timeout: float,
    work: list[float],
    expected: list[TimedStatus],
) -> None:
    jobs = [TimedJob(f"job{n}", seconds) for n, seconds in enumerate(work)]

    outcomes = run.virtual(
        timeouts.run_jobs,
        jobs,
        limit=1,
        job_timeout=job_timeout,
        batch_timeout=batch_timeout,
    )

    # On the virtual clocks the ties are exact (powers of two add up exactly), so these
    # runs prove the rule; on uvloop a job starts a little after the call, its own deadline
    # falls just after the overall one, and the rule gives the same answer from that side.
    assert [o.status for o in outcomes] == expected
    assert all(o.cleaned_up for o in outcomes)


@pytest.mark.clause("timeouts.cleanup")
def test_a_cleanup_outlives_the_deadline_and_the_call_waits_for_it(
    flavour: Flavour, timeouts: Timeouts, run: Run
) -> None:
    # The deadline stops `slow` at 0.125; its cleanup runs on to 0.375, which also uses up
    # `next`'s turn.
    jobs = [TimedJob("slow", math.inf, 0.25), TimedJob("next", 0)]
    log: Log = []

    async def scenario() -> tuple[list[TimedOutcome], float]:
        start = await flavour.current_time()
        outcomes = await timeouts.run_jobs(jobs, limit=1, job_timeout=10, batch_timeout=0.125, on_event=_recorder(log))
        log.append("returned")
        return outcomes, await flavour.current_time() - start

    outcomes, elapsed = run.virtual(scenario)

    assert _statuses(outcomes) == [(0, "slow", DEADLINE, True), (1, "next", NOT_STARTED, False)]
    assert log == [(0, event) for event in LIFECYCLE] + ["returned"]
    assert_durations(flavour, [elapsed], [0.375])


@pytest.mark.parametrize(
    ("work", "cleanup"),
    [(math.inf, 0.125), (0, 0.25)],
    ids=["cancelled-during-work", "cancelled-during-cleanup"],
)
@pytest.mark.clause("timeouts.cancel")
def test_a_cancel_from_outside_waits_for_every_cleanup_then_propagates(
    flavour: Flavour, timeouts: Timeouts, run: Run, work: float, cleanup: float
) -> None:
    # Three jobs are running when the cancel comes at 0.125: still working (their cleanups
    # then run to 0.25), or already cleaning up (their cleanups started at 0 and end at
    # 0.25). A shield that only shields the waiter (asyncio.shield alone) would let
    # "cancelled" be logged before the cleanups end, and the run fixture would find their
    # tasks still alive. The fourth job must never start: after a shielded cleanup the
    # cancel is still pending, and a worker must not take another job before it lands.
    jobs = [TimedJob(f"job{n}", work, cleanup) for n in range(4)]
    log: Log = []

    async def scenario() -> tuple[bool, float]:
        start = await flavour.current_time()
        call = functools.partial(timeouts.run_jobs, jobs, limit=3, on_event=_recorder(log))
        cancelled = await flavour.cancelled_after(0.125, call)
        log.append("cancelled")
        return cancelled, await flavour.current_time() - start

    cancelled, elapsed = run.virtual(scenario)

    # The cancellation reached the caller's scope: not swallowed, not turned into an error.
    assert cancelled is True
    assert [_lifecycle(log, index) for index in range(4)] == [LIFECYCLE, LIFECYCLE, LIFECYCLE, []]
    assert log[-1] == "cancelled"
    assert_durations(flavour, [elapsed], [0.25])


@pytest.mark.clause("timeouts.start_order")
def test_jobs_start_in_order_and_at_most_limit_run_at_once(timeouts: Timeouts, run: Run) -> None:
    jobs = [TimedJob(f"job{n}", 0.03125, 0.03125) for n in range(7)]
    log: Log = []

    outcomes = run.virtual(timeouts.run_jobs, jobs, limit=3, on_event=_recorder(log))

    assert _statuses(outcomes) == [(n, f"job{n}", FINISHED, True) for n in range(7)]
    assert [entry[0] for entry in log if isinstance(entry, tuple) and entry[1] is TimedStep.STARTED] == list(range(7))
    running, peak = 0, 0
    for entry in log:
        assert isinstance(entry, tuple)
        running += {TimedStep.STARTED: 1, TimedStep.CLEANUP_STARTED: 0, TimedStep.CLEANED_UP: -1}[entry[1]]
        peak = max(peak, running)
    assert (peak, running) == (3, 0)


@pytest.mark.clause("timeouts.not_started")
def test_jobs_waiting_for_a_slot_at_the_deadline_never_start(timeouts: Timeouts, run: Run) -> None:
    jobs = [TimedJob(f"job{n}", math.inf, 0.0625) for n in range(5)]
    log: Log = []

    outcomes = run.virtual(
        timeouts.run_jobs,
        jobs,
        limit=2,
        batch_timeout=0.125,
        on_event=_recorder(log),
    )

    assert [(o.status, o.cleaned_up) for o in outcomes] == [(DEADLINE, True)] * 2 + [(NOT_STARTED, False)] * 3
    assert [_lifecycle(log, index) for index in range(5)] == [LIFECYCLE] * 2 + [[]] * 3


@pytest.mark.clause("timeouts.bounds", "timeouts.empty")
def test_without_bounds_every_job_finishes_and_no_jobs_give_no_outcomes(timeouts: Timeouts, run: Run) -> None:
    jobs = [TimedJob("a", 0.0625, 0.0625), TimedJob("b", 0), TimedJob("c", 0.03125)]

    outcomes = run.virtual(timeouts.run_jobs, iter(jobs), limit=2)

    assert _statuses(outcomes) == [(0, "a", FINISHED, True), (1, "b", FINISHED, True), (2, "c", FINISHED, True)]
    assert run(timeouts.run_jobs, [], limit=1, job_timeout=1, batch_timeout=1) == []


@pytest.mark.clause("timeouts.on_event")
def test_an_error_from_on_event_comes_out_bare_after_the_running_cleanups(timeouts: Timeouts, run: Run) -> None:
    jobs = [TimedJob("running", math.inf, 0.0625), TimedJob("refused", 0)]
    log: Log = []

    class Boom(Exception):
        pass

    def on_event(index: int, event: TimedStep) -> None:
        log.append((index, event))
        if index == 1:
            raise Boom

    with pytest.raises(Boom) as caught:
        run.virtual(timeouts.run_jobs, jobs, limit=2, on_event=on_event)

    assert type(caught.value) is Boom
    # TimedJob 1 failed as it started, which stopped job 0's work; job 0 still cleaned up.
    assert log == [
        (0, TimedStep.STARTED),
        (1, TimedStep.STARTED),
        (0, TimedStep.CLEANUP_STARTED),
        (0, TimedStep.CLEANED_UP),
    ]


# --- Retry with backoff --------------------------------------------------------------------


class _Operation:
    """An operation for retry(): ``script`` says what each call does, by call number.

    "fail" raises a fresh :class:`Flaky`; "hang" waits forever (until cancelled); any
    other value is returned. Calls past the script repeat its last entry.
    """

    def __init__(self, flavour: Flavour, script: list[object]) -> None:
        self.flavour, self.script = flavour, script
        self.started: list[float] = []
        self.errors: list[Flaky] = []
        self.cancelled = 0

    async def __call__(self) -> object:
        self.started.append(await self.flavour.current_time())
        step = self.script[min(len(self.started), len(self.script)) - 1]
        if step == "fail":
            self.errors.append(Flaky(f"attempt {len(self.started)}"))
            raise self.errors[-1]
        if step == "hang":
            try:
                await self.flavour.sleep(math.inf)
            finally:
                self.cancelled += 1
        return step

    def gaps(self) -> list[float]:
        return [later - earlier for earlier, later in zip(self.started, self.started[1:], strict=False)]


@pytest.mark.clause("timeouts.retry.backoff")
def test_retry_returns_as_soon_as_an_attempt_succeeds(flavour: Flavour, timeouts: Timeouts, run: Run) -> None:
    operation = _Operation(flavour, ["fail", "fail", "done"])
    retries: list[tuple[int, Exception, float]] = []

    result = run.virtual(
        timeouts.retry,
        operation,
        retry_on=Flaky,
        attempts=5,
        base_delay=0.01,
        factor=3,
        on_retry=lambda *event: retries.append(event),
    )

    assert result == "done"
    assert len(operation.started) == 3
    assert retries == [(1, operation.errors[0], 0.01), (2, operation.errors[1], 0.01 * 3)]
    assert_durations(flavour, operation.gaps(), [0.01, 0.03])


@pytest.mark.clause("timeouts.retry.backoff", "timeouts.retry.exhausted")
def test_backoff_grows_by_factor_up_to_max_delay_then_the_retries_are_exhausted(
    flavour: Flavour, timeouts: Timeouts, run: Run
) -> None:
    operation = _Operation(flavour, ["fail"])
    retries: list[tuple[int, Exception, float]] = []

    with pytest.raises(RetriesExhausted) as caught:
        run.virtual(
            timeouts.retry,
            operation,
            retry_on=(KeyError, Flaky),
            attempts=6,
            base_delay=0.01,
            max_delay=0.04,
            timeout=30,
            on_retry=lambda *event: retries.append(event),
        )

    error = caught.value
    assert type(error) is RetriesExhausted
    assert error.attempts == 6
    assert error.__cause__ is operation.errors[-1]
    assert error.last_error is operation.errors[-1]
    assert str(error) == "all 6 attempt(s) failed; the last with Flaky('attempt 6')"
    assert len(operation.started) == 6
    assert [delay for _, _, delay in retries] == [0.01, 0.02, 0.04, 0.04, 0.04]
    assert [(attempt, err) for attempt, err, _ in retries] == list(enumerate(operation.errors[:5], start=1))
    assert_durations(flavour, operation.gaps(), [0.01, 0.02, 0.04, 0.04, 0.04])


@pytest.mark.parametrize("raised", [KeyError, TimeoutError], ids=["KeyError", "TimeoutError"])
@pytest.mark.clause("timeouts.retry.other_errors")
def test_an_error_that_is_not_retryable_passes_through_at_once(
    timeouts: Timeouts, run: Run, raised: type[Exception]
) -> None:
    calls: list[int] = []
    retries: list[object] = []

    async def operation() -> None:
        calls.append(1)
        # A TimeoutError of the operation's own must not pass for the retry's deadline.
        raise raised("not retryable")

    with pytest.raises(raised) as caught:
        run.virtual(
            timeouts.retry,
            operation,
            retry_on=Flaky,
            attempts=3,
            base_delay=0.01,
            timeout=30,
            on_retry=lambda *event: retries.append(event),
        )

    assert type(caught.value) is raised
    assert (len(calls), retries) == (1, [])


RETRY_DEADLINE_CASES = [
    # (id, script, failed attempts, calls, attempts cancelled); deadline 0.2 s, delays 0.1 s then 0.2 s
    ("first-attempt-cut-short", ["hang"], 0, 1, 1),
    ("later-attempt-cut-short", ["fail", "hang"], 1, 2, 1),
    ("backoff-cut-short", ["fail"], 2, 2, 0),
]


@pytest.mark.parametrize(
    ("script", "failed", "calls", "cancelled"),
    [case[1:] for case in RETRY_DEADLINE_CASES],
    ids=[case[0] for case in RETRY_DEADLINE_CASES],
)
@pytest.mark.clause("timeouts.retry.timeout")
def test_the_retry_deadline_raises_the_one_shared_timeout_type(
    flavour: Flavour, timeouts: Timeouts, run: Run, script: list[object], failed: int, calls: int, cancelled: int
) -> None:
    operation = _Operation(flavour, script)
    elapsed: list[float] = []

    async def scenario() -> None:
        start = await flavour.current_time()
        try:
            await timeouts.retry(operation, retry_on=Flaky, attempts=10, base_delay=0.1, timeout=0.2)
        finally:
            elapsed.append(await flavour.current_time() - start)

    with pytest.raises(DeadlineExceeded) as caught:
        run.virtual(scenario)

    error = caught.value
    assert type(error) is DeadlineExceeded
    assert isinstance(error, TimeoutError)
    import trio  # here, not at the top: a missing trio must fail as the flavours say, not at import

    assert not isinstance(error, trio.TooSlowError)
    assert (error.seconds, error.failed_attempts) == (0.2, failed)
    assert str(error) == f"the `timeout` of 0.2 s ran out after {failed} failed attempt(s)"
    assert error.__cause__ is (operation.errors[-1] if failed else None)
    assert (len(operation.started), len(operation.errors), operation.cancelled) == (calls, failed, cancelled)
    assert_durations(flavour, [elapsed[0]], [0.2])


@pytest.mark.parametrize("script", [["fail"], ["hang"]], ids=["during-backoff", "during-an-attempt"])
@pytest.mark.clause("timeouts.retry.cancel")
def test_a_cancel_from_outside_stops_the_retry_and_propagates(
    flavour: Flavour, timeouts: Timeouts, run: Run, script: list[object]
) -> None:
    operation = _Operation(flavour, script)
    retries: list[object] = []
    call = functools.partial(
        timeouts.retry,
        operation,
        retry_on=Flaky,
        attempts=5,
        base_delay=1,
        timeout=30,
        on_retry=lambda *event: retries.append(event),
    )

    async def scenario() -> bool:
        # Cancelled once the first attempt has failed (its backoff begins) or has started.
        began = (lambda: len(retries) == 1) if script == ["fail"] else (lambda: len(operation.started) == 1)
        return await flavour.cancelled_when(began, call)

    assert run.virtual(scenario) is True
    assert len(operation.started) == 1
    assert (len(retries), operation.cancelled) == ((1, 0) if script == ["fail"] else (0, 1))


# --- Bad input -----------------------------------------------------------------------------


async def _never() -> None:
    raise AssertionError("the operation ran despite bad arguments")


BAD_BATCH = [
    ({"limit": 0}, ValueError, "`limit` must be >= 1, got 0"),
    ({"limit": 1.5}, TypeError, "`limit` must be an int, got 1.5"),
    ({"job_timeout": 0}, ValueError, "`job_timeout` must be > 0, got 0"),
    ({"job_timeout": "1s"}, TypeError, "`job_timeout` must be a number of seconds or None, got '1s'"),
    ({"batch_timeout": -1}, ValueError, "`batch_timeout` must be > 0, got -1"),
    ({"batch_timeout": math.nan}, ValueError, "`batch_timeout` must be > 0, got nan"),
    ({"jobs": [TimedJob("a", 1), ("b", 1)]}, TypeError, "`jobs[1]` must be a TimedJob, got ('b', 1)"),
    ({"on_event": 3}, TypeError, "`on_event` must be callable or None, got 3"),
    ({"jobs": None}, TypeError, "`jobs` must be an iterable of Jobs, got None"),
    ({"jobs": "ab"}, TypeError, "`jobs` must be an iterable of Jobs, not a single string"),
]
BAD_TIMED_JOBS: list[tuple[tuple[Any, ...], type[Exception], str]] = [
    ((3, 1), TypeError, "`name` must be a str, got 3"),
    (("a", -1), ValueError, "`work_seconds` must be >= 0, got -1"),
    (("a", math.nan), ValueError, "`work_seconds` must be >= 0, got nan"),
    (("a", "1"), TypeError, "`work_seconds` must be a number of seconds, got '1'"),
    (("a", 1, math.inf), ValueError, "`cleanup_seconds` must be finite, got inf"),
    (("a", 1, -0.5), ValueError, "`cleanup_seconds` must be >= 0, got -0.5"),
]
BAD_RETRY = [
    ({"attempts": 0}, ValueError, "`attempts` must be >= 1, got 0"),
    ({"attempts": "3"}, TypeError, "`attempts` must be an int, got '3'"),
    ({"base_delay": -0.1}, ValueError, "`base_delay` must be >= 0, got -0.1"),
    ({"base_delay": math.inf}, ValueError, "`base_delay` must be finite, got inf"),
    ({"base_delay": None}, TypeError, "`base_delay` must be a number of seconds, got None"),
    ({"factor": 0.5}, ValueError, "`factor` must be >= 1, got 0.5"),
    ({"factor": math.nan}, ValueError, "`factor` must be >= 1, got nan"),
    ({"factor": math.inf}, ValueError, "`factor` must be finite, got inf"),
    ({"factor": "2"}, TypeError, "`factor` must be a number, got '2'"),
    ({"max_delay": -1}, ValueError, "`max_delay` must be >= 0, got -1"),
    ({"timeout": 0}, ValueError, "`timeout` must be > 0, got 0"),
    ({"timeout": True}, TypeError, "`timeout` must be a number of seconds or None, got True"),
    (
        {"retry_on": KeyboardInterrupt},
        TypeError,
        "`retry_on` must be an Exception subclass or a tuple of them, got <class 'KeyboardInterrupt'>",
    ),
    ({"retry_on": ()}, TypeError, "`retry_on` must be an Exception subclass or a tuple of them, got ()"),
    (
        {"retry_on": (Flaky, "OSError")},
        TypeError,
        f"`retry_on` must be an Exception subclass or a tuple of them, got ({Flaky!r}, 'OSError')",
    ),
    ({"operation": None}, TypeError, "`operation` must be callable, got None"),
    ({"on_retry": 1}, TypeError, "`on_retry` must be callable or None, got 1"),
]
BAD_INPUT = [("run_jobs", *case) for case in BAD_BATCH] + [("retry", *case) for case in BAD_RETRY]


@pytest.mark.parametrize(
    ("call", "kwargs", "error", "message"),
    BAD_INPUT,
    ids=[f"{call}: {message}" for call, _, _, message in BAD_INPUT],
)
@pytest.mark.clause("timeouts.args", "timeouts.retry.args")
def test_bad_input_fails_alike_everywhere(
    timeouts: Timeouts, run: Run, call: str, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    async def scenario() -> None:
        arguments = dict(kwargs)
        if call == "run_jobs":
            await timeouts.run_jobs(**{"jobs": [TimedJob("a", 1)], "limit": 1, **arguments})
        else:
            operation: Callable[[], Awaitable[None]] = arguments.pop("operation", _never)
            await timeouts.retry(operation, **{"retry_on": Flaky, "attempts": 3, "base_delay": 0.1, **arguments})

    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        run(scenario)


@pytest.mark.parametrize(("fields", "error", "message"), BAD_TIMED_JOBS, ids=[m for _, _, m in BAD_TIMED_JOBS])
def test_a_bad_timed_job_is_refused_when_made(fields: tuple[Any, ...], error: type[Exception], message: str) -> None:
    # Plain data, the same on every flavour: checked once.
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        TimedJob(*fields)


@pytest.mark.parametrize("cleanup", [0, 0.002])
@pytest.mark.clause("timeouts.not_started")
def test_a_job_whose_turn_comes_at_the_deadline_never_starts(timeouts: Timeouts, run: Run, cleanup: float) -> None:
    # 50.4 ms: uvloop's timers fire on whole milliseconds, up to about half a millisecond
    # before their time, so the first job's deadline fires while the clock still reads
    # before it. Twenty rounds make the early timer near certain on that flavour.
    jobs = [TimedJob("endless", work_seconds=math.inf, cleanup_seconds=cleanup), TimedJob("next", work_seconds=0)]
    first: list[TimedStatus] = []
    for _ in range(20):
        outcomes = run.virtual(timeouts.run_jobs, jobs, limit=1, batch_timeout=0.0504)
        assert outcomes[1].status is TimedStatus.NOT_STARTED
        first.append(outcomes[0].status)
    # On a real clock a host too slow to start the first job within the deadline makes
    # that round prove nothing, but it may not make every round so.
    assert set(first) <= {TimedStatus.DEADLINE, TimedStatus.NOT_STARTED}
    assert TimedStatus.DEADLINE in first
