"""Cancellation behaviour (contract: shared.cancellation.Cancellation) on every flavour.

Time runs on the virtual clock wherever the flavour has one; the uvloop flavours run in
real time, so every scenario is decided by margins of tens of milliseconds or more
(a job meant to be cancelled works for 10 s, one meant to finish for 10-50 ms), and the
assertions are about which jobs ended how, and in what order where the contract fixes
it, never about how long anything took.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import pytest

from shared.cancellation import (
    AllJobsFailed,
    Cancellation,
    Job,
    JobEvent,
    JobFailed,
    JobOutcome,
    JobStatus,
    JobStep,
    ServeReport,
    ShutdownSignal,
)
from tests.helpers import Run
from triptych.flavours import Flavour

STARTED, SUCCEEDED, FAILED, CANCELLED, CLEANED_UP = JobStep
NOT_STARTED = JobStatus.NOT_STARTED


def _steps(events: list[JobEvent], name: str) -> list[JobStep]:
    return [event.step for event in events if event.job == name]


def _started(events: list[JobEvent]) -> set[str]:
    return {event.job for event in events if event.step is STARTED}


def _summary(outcomes: tuple[JobOutcome, ...]) -> list[tuple[str, JobStatus, bool]]:
    return [(outcome.name, outcome.status, outcome.cleaned_up) for outcome in outcomes]


def _shut_down_when(shutdown: ShutdownSignal, started: int, events: list[JobEvent]) -> Callable[[JobEvent], None]:
    """A log that records every event and requests the shutdown when the ``started``-th job starts."""

    def log(event: JobEvent) -> None:
        events.append(event)
        if event.step is STARTED and len(_started(events)) == started:
            shutdown.request()

    return log


# --- All or nothing ----------------------------------------------------------------------------


@pytest.mark.clause("cancellation.all.success", "cancellation.cleanup")
def test_all_or_nothing_returns_every_outcome_when_all_succeed(cancellation: Cancellation, run: Run) -> None:
    jobs = [Job("a", 0.03, cleanup_seconds=0.01), Job("b", 0.01, cleanup_seconds=0.02), Job("c", 0.02)]
    events: list[JobEvent] = []

    outcomes = run.virtual(cancellation.run_all_or_nothing, jobs, on_event=events.append)

    assert outcomes == tuple(JobOutcome(name, JobStatus.SUCCEEDED, cleaned_up=True) for name in "abc")
    for name in "abc":
        assert _steps(events, name) == [STARTED, SUCCEEDED, CLEANED_UP]
    # All of them run at once: each starts before any ends.
    assert [event.step for event in events[:3]] == [STARTED] * 3


@pytest.mark.clause("cancellation.all.failure")
def test_the_first_failure_cancels_the_siblings_and_names_the_job(cancellation: Cancellation, run: Run) -> None:
    jobs = [
        Job("slow", 10, cleanup_seconds=0.03),
        Job("failing", 0.03, error=ValueError, cleanup_seconds=0.01),
        # Done at once, and still in its cleanup when the failure cancels the siblings:
        # the cancel lands inside the cleanup, which must finish all the same.
        Job("quick", 0, cleanup_seconds=0.1),
        Job("slower", 20, cleanup_seconds=0.02),
    ]
    events: list[JobEvent] = []

    with pytest.raises(JobFailed) as caught:
        run.virtual(cancellation.run_all_or_nothing, jobs, on_event=events.append)

    error = caught.value
    assert type(error) is JobFailed
    assert error.job == "failing"
    assert type(error.__cause__) is ValueError
    assert error.error is error.__cause__
    assert str(error) == (
        "job 'failing' failed, so the others were cancelled: ValueError: simulated failure of job 'failing'"
    )
    assert _summary(error.outcomes) == [
        ("slow", JobStatus.CANCELLED, True),
        ("failing", JobStatus.FAILED, True),
        ("quick", JobStatus.SUCCEEDED, True),
        ("slower", JobStatus.CANCELLED, True),
    ]
    assert error.outcomes[1].error is error.__cause__
    assert sum(event.step is CLEANED_UP for event in events) == 4
    assert _steps(events, "slow") == [STARTED, CANCELLED, CLEANED_UP]
    assert _steps(events, "quick") == [STARTED, SUCCEEDED, CLEANED_UP]
    # The error leaves the failed job after its own cleanup; only then are the others cancelled.
    cleaned = events.index(JobEvent("failing", CLEANED_UP))
    assert cleaned < events.index(JobEvent("slow", CANCELLED))
    assert cleaned < events.index(JobEvent("slower", CANCELLED))


@pytest.mark.clause("cancellation.all.failure")
def test_a_job_can_be_run_again_with_a_fresh_error(cancellation: Cancellation, run: Run) -> None:
    jobs = [Job("failing", 0.01, error=KeyError), Job("other", 10)]
    causes = []

    for _ in range(2):
        with pytest.raises(JobFailed) as caught:
            run.virtual(cancellation.run_all_or_nothing, jobs)
        causes.append(caught.value.__cause__)

    assert [type(cause) for cause in causes] == [KeyError, KeyError]
    assert causes[0] is not causes[1]


@pytest.mark.clause("cancellation.all.empty")
def test_all_or_nothing_with_no_jobs_returns_nothing(cancellation: Cancellation, run: Run) -> None:
    assert run(cancellation.run_all_or_nothing, []) == ()


# --- First-wins race ---------------------------------------------------------------------------


@pytest.mark.clause("cancellation.race.winner", "cancellation.race.stagger")
def test_race_the_first_success_wins_and_the_rest_are_cancelled(cancellation: Cancellation, run: Run) -> None:
    jobs = [
        Job("unreachable", 10, cleanup_seconds=0.02),  # starts at 0, still connecting when "fast" wins
        Job("fast", 0.01),  # starts after the 0.1 s stagger, wins at 0.11
        Job("late", 10),  # its turn would come at 0.2
    ]
    events: list[JobEvent] = []

    result = run.virtual(cancellation.race_first, jobs, stagger=0.1, on_event=events.append)

    assert result.winner == "fast"
    assert _summary(result.outcomes) == [
        ("unreachable", JobStatus.CANCELLED, True),
        ("fast", JobStatus.SUCCEEDED, True),
        ("late", NOT_STARTED, False),
    ]
    assert _steps(events, "unreachable") == [STARTED, CANCELLED, CLEANED_UP]
    assert _steps(events, "late") == []
    # Staggered: the second attempt starts only after the first has had its head start.
    assert events.index(JobEvent("unreachable", STARTED)) < events.index(JobEvent("fast", STARTED))


@pytest.mark.parametrize("stagger", [None, math.inf, 10.0], ids=["no-stagger", "inf", "long-stagger"])
@pytest.mark.clause("cancellation.race.stagger")
def test_race_a_failure_starts_the_next_attempt_at_once(
    cancellation: Cancellation, run: Run, stagger: float | None
) -> None:
    jobs = [
        Job("refused", 0.01, error=ConnectionRefusedError, cleanup_seconds=0.01),
        Job("reset", 0.01, error=ConnectionResetError),
        Job("ok", 0.01),
        Job("spare", 0.01),
    ]
    events: list[JobEvent] = []

    result = run.virtual(cancellation.race_first, jobs, stagger=stagger, on_event=events.append)

    assert result.winner == "ok"
    # One attempt at a time, each started once the previous one has failed.
    assert [(event.job, event.step) for event in events] == [
        ("refused", STARTED),
        ("refused", FAILED),
        ("refused", CLEANED_UP),
        ("reset", STARTED),
        ("reset", FAILED),
        ("reset", CLEANED_UP),
        ("ok", STARTED),
        ("ok", SUCCEEDED),
        ("ok", CLEANED_UP),
    ]
    assert [outcome.status for outcome in result.outcomes] == [
        JobStatus.FAILED,
        JobStatus.FAILED,
        JobStatus.SUCCEEDED,
        NOT_STARTED,
    ]
    assert [type(outcome.error) for outcome in result.outcomes[:2]] == [ConnectionRefusedError, ConnectionResetError]


@pytest.mark.clause("cancellation.race.stagger")
def test_race_with_no_stagger_starts_every_attempt_at_once(cancellation: Cancellation, run: Run) -> None:
    jobs = [Job("slow", 10, cleanup_seconds=0.01), Job("medium", 0.06, cleanup_seconds=0.02), Job("fast", 0.01)]
    events: list[JobEvent] = []

    result = run.virtual(cancellation.race_first, jobs, stagger=0, on_event=events.append)

    assert result.winner == "fast"
    assert _summary(result.outcomes) == [
        ("slow", JobStatus.CANCELLED, True),
        ("medium", JobStatus.CANCELLED, True),
        ("fast", JobStatus.SUCCEEDED, True),
    ]
    assert _started(events) == {"slow", "medium", "fast"}


@pytest.mark.clause("cancellation.race.all_fail")
def test_race_reports_every_error_when_all_fail(cancellation: Cancellation, run: Run) -> None:
    # They fail in the order v6 (0.06), relay (0.08), v4 (0.15): the report keeps input order.
    jobs = [
        Job("v4", 0.15, error=ConnectionRefusedError, cleanup_seconds=0.01),
        Job("v6", 0.01, error=TimeoutError),
        Job("relay", 0.02, error=OSError, cleanup_seconds=0.01),
    ]
    events: list[JobEvent] = []

    with pytest.raises(AllJobsFailed) as caught:
        run.virtual(cancellation.race_first, jobs, stagger=0.05, on_event=events.append)

    error = caught.value
    assert type(error) is AllJobsFailed
    assert [(name, type(exc)) for name, exc in error.errors] == [
        ("v4", ConnectionRefusedError),
        ("v6", TimeoutError),
        ("relay", OSError),
    ]
    assert [str(exc) for _, exc in error.errors] == [
        f"simulated failure of job {name!r}" for name in ("v4", "v6", "relay")
    ]
    assert str(error) == "all 3 jobs failed: 'v4': ConnectionRefusedError, 'v6': TimeoutError, 'relay': OSError"
    assert _summary(error.outcomes) == [(name, JobStatus.FAILED, True) for name in ("v4", "v6", "relay")]
    assert [event.job for event in events if event.step is FAILED] == ["v6", "relay", "v4"]


# --- Graceful shutdown -------------------------------------------------------------------------


@pytest.mark.clause("cancellation.serve.workers", "cancellation.serve.backlog_done")
def test_serve_works_through_the_backlog_with_at_most_workers_in_flight(cancellation: Cancellation, run: Run) -> None:
    jobs = [Job(f"j{n}", 0.01 * (n % 3 + 1), error=ValueError if n == 3 else None) for n in range(8)]
    events: list[JobEvent] = []

    report = run.virtual(
        cancellation.serve,
        jobs,
        workers=3,
        grace=1.0,
        shutdown=ShutdownSignal(),
        on_event=events.append,
    )

    assert type(report) is ServeReport
    assert (report.completed, report.failed, report.cancelled, report.never_taken) == (7, 1, 0, 0)
    assert report.shutdown_requested is False
    assert report.outcomes[3].status is JobStatus.FAILED
    assert type(report.outcomes[3].error) is ValueError
    assert all(outcome.cleaned_up for outcome in report.outcomes)
    in_flight, peak = 0, 0
    for event in events:
        in_flight += {STARTED: 1, CLEANED_UP: -1}.get(event.step, 0)
        peak = max(peak, in_flight)
    assert peak == 3


@pytest.mark.clause("cancellation.serve.shutdown", "cancellation.serve.report")
def test_serve_shutdown_lets_in_flight_jobs_finish_then_cancels_the_rest(cancellation: Cancellation, run: Run) -> None:
    jobs = [
        Job("a", 0.02),  # done before the shutdown
        Job("b", 10, cleanup_seconds=0.01),  # in flight, and still working when the 0.2 s grace ends
        Job("c", 0.02),  # taken when "a" ends; its start triggers the shutdown; done well within the grace
        Job("d", 0.02),
        Job("e", 0.02),
    ]
    shutdown = ShutdownSignal()
    events: list[JobEvent] = []

    report = run.virtual(
        cancellation.serve,
        jobs,
        workers=2,
        grace=0.2,
        shutdown=shutdown,
        on_event=_shut_down_when(shutdown, 3, events),
    )

    assert (report.completed, report.failed, report.cancelled, report.never_taken) == (2, 0, 1, 2)
    assert report.shutdown_requested is True
    assert _summary(report.outcomes) == [
        ("a", JobStatus.SUCCEEDED, True),
        ("b", JobStatus.CANCELLED, True),
        ("c", JobStatus.SUCCEEDED, True),
        ("d", NOT_STARTED, False),
        ("e", NOT_STARTED, False),
    ]
    assert _steps(events, "b") == [STARTED, CANCELLED, CLEANED_UP]
    assert events.index(JobEvent("c", SUCCEEDED)) < events.index(JobEvent("b", CANCELLED))


@pytest.mark.clause("cancellation.serve.shutdown")
def test_serve_returns_when_the_in_flight_jobs_end_not_when_the_grace_does(
    flavour: Flavour, cancellation: Cancellation, run: Run
) -> None:
    jobs = [Job("a", 0.02, cleanup_seconds=0.01), Job("b", 0.05), Job("c", 0.01)]
    shutdown = ShutdownSignal()
    events: list[JobEvent] = []
    reports: list[ServeReport] = []

    async def serve_and_keep_report() -> None:
        reports.append(
            await cancellation.serve(
                jobs, workers=2, grace=5.0, shutdown=shutdown, on_event=_shut_down_when(shutdown, 2, events)
            )
        )

    # A call that waited out the 5 s grace would be cancelled at 1 s.
    cancelled = run.virtual(flavour.cancelled_after, 1.0, serve_and_keep_report)

    assert cancelled is False
    [report] = reports
    assert (report.completed, report.failed, report.cancelled, report.never_taken) == (2, 0, 0, 1)
    assert report.outcomes[2] == JobOutcome("c", NOT_STARTED, cleaned_up=False)


@pytest.mark.clause("cancellation.serve.shutdown")
def test_serve_with_no_grace_cancels_the_in_flight_jobs_at_once(cancellation: Cancellation, run: Run) -> None:
    jobs = [Job("a", 10, cleanup_seconds=0.02), Job("b", 10, cleanup_seconds=0.01), Job("c", 0.01)]
    shutdown = ShutdownSignal()
    events: list[JobEvent] = []

    report = run.virtual(
        cancellation.serve,
        jobs,
        workers=2,
        grace=0,
        shutdown=shutdown,
        on_event=_shut_down_when(shutdown, 2, events),
    )

    assert (report.completed, report.failed, report.cancelled, report.never_taken) == (0, 0, 2, 1)
    for name in "ab":
        assert _steps(events, name) == [STARTED, CANCELLED, CLEANED_UP]


@pytest.mark.parametrize("grace", [0, 1.0, None])
@pytest.mark.clause("cancellation.serve.shutdown", "cancellation.serve.report")
def test_serve_after_the_shutdown_takes_nothing(cancellation: Cancellation, run: Run, grace: float | None) -> None:
    shutdown = ShutdownSignal()
    shutdown.request()
    events: list[JobEvent] = []

    report = run.virtual(
        cancellation.serve,
        [Job("a", 0.01), Job("b", 0.01)],
        workers=2,
        grace=grace,
        shutdown=shutdown,
        on_event=events.append,
    )

    assert (report.completed, report.failed, report.cancelled, report.never_taken) == (0, 0, 0, 2)
    assert report.shutdown_requested is True
    assert events == []


@pytest.mark.clause("cancellation.serve.backlog_done")
def test_serve_with_no_jobs_returns_at_once(cancellation: Cancellation, run: Run) -> None:
    report = run(cancellation.serve, [], workers=4, grace=None, shutdown=ShutdownSignal())

    assert report == ServeReport((), shutdown_requested=False)


# --- A cancel from outside ---------------------------------------------------------------------

LONG_JOBS = [Job("a", 10, cleanup_seconds=0.03), Job("b", 10, cleanup_seconds=0.02), Job("c", 10, cleanup_seconds=0.01)]

OUTSIDE_CANCEL: dict[str, tuple[Callable[[Cancellation, Callable[[JobEvent], None]], Awaitable[object]], set[str]]] = {
    # call: (how to make it, the jobs that have started when the cancel comes)
    "run_all_or_nothing": (lambda impl, log: impl.run_all_or_nothing(LONG_JOBS, on_event=log), {"a", "b", "c"}),
    "race_first": (lambda impl, log: impl.race_first(LONG_JOBS, stagger=None, on_event=log), {"a"}),
    "serve": (
        lambda impl, log: impl.serve(LONG_JOBS, workers=2, grace=None, shutdown=ShutdownSignal(), on_event=log),
        {"a", "b"},
    ),
}


@pytest.mark.parametrize("call", list(OUTSIDE_CANCEL))
@pytest.mark.clause("cancellation.cancel", "cancellation.cleanup")
def test_a_cancel_from_outside_runs_every_cleanup_and_propagates(
    flavour: Flavour, cancellation: Cancellation, run: Run, call: str
) -> None:
    make_call, started = OUTSIDE_CANCEL[call]
    events: list[JobEvent] = []

    # The run fixture fails the test if a task (a job, a cleanup, a watcher) outlives the call.
    cancelled = run.virtual(
        flavour.cancelled_after,
        0.05,
        partial(make_call, cancellation, events.append),
    )

    assert cancelled is True
    assert _started(events) == started
    for name in started:
        assert _steps(events, name) == [STARTED, CANCELLED, CLEANED_UP]


@pytest.mark.parametrize("call", list(OUTSIDE_CANCEL))
@pytest.mark.clause("cancellation.cleanup")
def test_a_cancel_before_the_first_checkpoint_starts_no_job(
    flavour: Flavour, cancellation: Cancellation, run: Run, call: str
) -> None:
    make_call, _ = OUTSIDE_CANCEL[call]
    events: list[JobEvent] = []

    # Already cancelled when the jobs' tasks first run: asyncio never runs such a task, trio
    # and AnyIO run it up to its first checkpoint. Either way no job starts, and none cleans up.
    cancelled = run.virtual(
        flavour.cancelled_after,
        0,
        partial(make_call, cancellation, events.append),
    )

    assert cancelled is True
    assert events == []


@pytest.mark.clause("cancellation.cancel", "cancellation.cleanup")
def test_a_cancel_from_outside_lets_a_cleanup_in_progress_finish(
    flavour: Flavour, cancellation: Cancellation, run: Run
) -> None:
    # "done" has finished its work and is 0.05 s into a 0.1 s cleanup when the cancel comes.
    jobs = [Job("done", 0, cleanup_seconds=0.1), Job("busy", 10, cleanup_seconds=0.01)]
    events: list[JobEvent] = []

    cancelled = run.virtual(
        flavour.cancelled_after,
        0.05,
        partial(cancellation.run_all_or_nothing, jobs, on_event=events.append),
    )

    assert cancelled is True
    assert _steps(events, "done") == [STARTED, SUCCEEDED, CLEANED_UP]
    assert _steps(events, "busy") == [STARTED, CANCELLED, CLEANED_UP]


# --- Bad input ---------------------------------------------------------------------------------

BAD_JOBS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"name": 3}, TypeError, "`name` must be a str, got 3"),
    ({"name": ""}, ValueError, "`name` must not be empty"),
    (
        {"name": "a", "work_seconds": "1"},
        TypeError,
        "`work_seconds` must be a number of seconds, got '1'",
    ),
    ({"name": "a", "work_seconds": -1}, ValueError, "`work_seconds` must be >= 0, got -1"),
    (
        {"name": "a", "work_seconds": math.inf},
        ValueError,
        "`work_seconds` must be finite, got inf",
    ),
    (
        {"name": "a", "cleanup_seconds": math.nan},
        ValueError,
        "`cleanup_seconds` must be >= 0, got nan",
    ),
    (
        {"name": "a", "cleanup_seconds": True},
        TypeError,
        "`cleanup_seconds` must be a number of seconds, got True",
    ),
    (
        {"name": "a", "error": ValueError("x")},
        TypeError,
        "`error` must be an Exception subclass or None, got ValueError('x')",
    ),
    (
        {"name": "a", "error": KeyboardInterrupt},
        TypeError,
        "`error` must be an Exception subclass or None, got <class 'KeyboardInterrupt'>",
    ),
]
BAD_INPUT: list[tuple[str, Callable[[], dict[str, Any]], type[Exception], str]] = [
    ("run_all_or_nothing", lambda: {"jobs": [Job("a"), "b"]}, TypeError, "`jobs[1]` must be a Job, got 'b'"),
    (
        "run_all_or_nothing",
        lambda: {"jobs": [Job("a"), Job("b"), Job("a")]},
        ValueError,
        "`jobs[2]` has the name of an earlier job: 'a'",
    ),
    (
        "run_all_or_nothing",
        lambda: {"jobs": [], "on_event": 3},
        TypeError,
        "`on_event` must be callable or None, got 3",
    ),
    ("run_all_or_nothing", lambda: {"jobs": None}, TypeError, "`jobs` must be an iterable of Jobs, got None"),
    ("race_first", lambda: {"jobs": "ab"}, TypeError, "`jobs` must be an iterable of Jobs, not a single string"),
    ("serve", lambda: {"jobs": None}, TypeError, "`jobs` must be an iterable of Jobs, got None"),
    ("race_first", lambda: {"jobs": []}, ValueError, "`jobs` must hold at least one job"),
    ("race_first", lambda: {"jobs": ["a"]}, TypeError, "`jobs[0]` must be a Job, got 'a'"),
    ("race_first", lambda: {"jobs": [Job("a")], "stagger": -0.5}, ValueError, "`stagger` must be >= 0, got -0.5"),
    ("race_first", lambda: {"jobs": [Job("a")], "stagger": math.nan}, ValueError, "`stagger` must be >= 0, got nan"),
    (
        "race_first",
        lambda: {"jobs": [Job("a")], "stagger": "1s"},
        TypeError,
        "`stagger` must be a number of seconds or None, got '1s'",
    ),
    ("serve", lambda: {"workers": 0}, ValueError, "`workers` must be >= 1, got 0"),
    ("serve", lambda: {"workers": 1.5}, TypeError, "`workers` must be an int, got 1.5"),
    ("serve", lambda: {"grace": -1}, ValueError, "`grace` must be >= 0, got -1"),
    ("serve", lambda: {"grace": False}, TypeError, "`grace` must be a number of seconds or None, got False"),
    ("serve", lambda: {"shutdown": None}, TypeError, "`shutdown` must be a ShutdownSignal, got None"),
    ("serve", lambda: {"jobs": [Job("a"), Job("a")]}, ValueError, "`jobs[1]` has the name of an earlier job: 'a'"),
]


@pytest.mark.parametrize(("call", "make_kwargs", "error", "message"), BAD_INPUT, ids=[case[3] for case in BAD_INPUT])
@pytest.mark.clause("cancellation.all.args", "cancellation.race.args", "cancellation.serve.args")
def test_bad_input_fails_alike_everywhere(
    cancellation: Cancellation,
    run: Run,
    call: str,
    make_kwargs: Callable[[], dict[str, Any]],
    error: type[Exception],
    message: str,
) -> None:
    defaults: dict[str, Any] = {"jobs": [Job("a")]}
    if call == "serve":
        defaults.update(workers=1, grace=None, shutdown=ShutdownSignal())

    async def scenario() -> None:
        await getattr(cancellation, call)(**{**defaults, **make_kwargs()})

    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        run(scenario)


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD_JOBS, ids=[m for _, _, m in BAD_JOBS])
def test_a_bad_job_is_refused_when_made(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    # Plain data, the same on every flavour: checked once.
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        Job(**kwargs)
