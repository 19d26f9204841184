"""The caller's own exceptions leave every workload as the very object raised (shared.errors).

Every workload that runs the caller's code (a block, an iterable, a callback) is driven to
raise, from that code, each shape of exception that task groups and cancel scopes are known
to alter: a plain exception, a one-leaf ``ExceptionGroup`` (once unwrapped to its leaf), a
two-leaf group (once wrapped in a new group whose message named the library), and a
subclass of ``ExceptionGroup`` (once rebuilt as a plain group by Trio's cancel scopes). The
call must raise that same object, with the ``__cause__`` and ``__context__`` it had when it
was raised. Two failures of the implementation's own in the same instant give one error of
the contract's type, never a group.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

import pytest

from shared.cancellation import Cancellation, Job, JobEvent, JobFailed, JobStep, ShutdownSignal
from shared.fanout import Fanout, FanoutError
from shared.pipeline import Pipeline, PipelineError
from shared.streams import Streams
from shared.timeouts import TimedJob, TimedStep, Timeouts
from tests.helpers import Run
from triptych.flavours import Flavour
from triptych.server import LoopbackServer


class CallersGroup(ExceptionGroup):
    """A caller's own subclass of ExceptionGroup, which ``except CallersGroup`` must still catch."""


def _plain() -> BaseException:
    try:
        raise KeyError("the cause")
    except KeyError as cause:
        error = LookupError("the caller's own")
        error.__cause__ = cause
        return error


SHAPES: dict[str, Callable[[], BaseException]] = {
    "plain": _plain,
    "one-leaf group": lambda: ExceptionGroup("caller's one", [ValueError("leaf")]),
    "two-leaf group": lambda: ExceptionGroup("caller's two", [ValueError("a"), KeyError("b")]),
    "group subclass": lambda: CallersGroup("caller's subclass", [ValueError("leaf")]),
}


class Raiser:
    """Raises ``error`` when called; records its ``__cause__`` and ``__context__`` as raised."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.as_raised: tuple[object, object] | None = None

    def __call__(self, *args: object) -> None:
        try:
            raise self.error
        except BaseException:
            self.as_raised = (self.error.__cause__, self.error.__context__)
            raise

    def raises(self) -> pytest.RaisesExc[BaseException]:
        return pytest.raises(type(self.error))

    def check(self, caught: pytest.ExceptionInfo[BaseException]) -> None:
        assert caught.value is self.error, f"got {caught.value!r}, not the caller's {self.error!r}"
        assert type(caught.value) is type(self.error)
        assert self.as_raised is not None, "the caller's code never ran"
        assert (caught.value.__cause__, caught.value.__context__) == self.as_raised
        if isinstance(self.error, BaseExceptionGroup):
            assert isinstance(caught.value, BaseExceptionGroup)
            assert caught.value.exceptions == self.error.exceptions


shapes = pytest.mark.parametrize("shape", list(SHAPES))


# --- fan-out: the body of fetch_as_completed's block -------------------------------------------


@shapes
@pytest.mark.clause("fanout.as_completed.exit")
def test_fanout_block(fanout: Fanout, run: Run, server: LoopbackServer, shape: str) -> None:
    raiser = Raiser(SHAPES[shape]())
    # One answer at once, one that never comes: the block raises while a fetch is in flight.
    urls = [f"{server.url}/bytes/1", f"{server.url}/hang"]

    async def scenario() -> None:
        async with fanout.fetch_as_completed(urls, limit=2) as results:
            async for _ in results:
                raiser()

    with raiser.raises() as caught:
        run(scenario)
    raiser.check(caught)
    assert server.wait_idle().open_connections == 0


@pytest.mark.clause("fanout.fail_fast")
def test_fanout_two_failures_at_once_give_one_fanout_error(fanout: Fanout, run: Run, server: LoopbackServer) -> None:
    # /hold/2 answers both requests together, with a 503 each: two failures in one instant.
    urls = [f"{server.url}/hold/2?status=503"] * 2

    with pytest.raises(FanoutError) as caught:
        run(fanout.fetch_all, urls, limit=2, fail_fast=True)
    assert type(caught.value) is FanoutError
    assert caught.value.url in urls


# --- streams: the body of echo_server's block --------------------------------------------------


@shapes
@pytest.mark.clause("streams.server.exception")
def test_streams_block(streams: Streams, run: Run, shape: str) -> None:
    raiser = Raiser(SHAPES[shape]())

    async def scenario() -> None:
        async with streams.echo_server() as server:
            assert await streams.echo(server.port, [b"ping"]) == [b"ping"]
            raiser()

    with raiser.raises() as caught:
        run(scenario)
    raiser.check(caught)


# --- pipeline: the items iterable, and the handler ---------------------------------------------


def _items(raiser: Raiser, before: int) -> Iterator[int]:
    yield from range(before)
    raiser()


@shapes
@pytest.mark.clause("pipeline.items_error")
def test_pipeline_items(flavour: Flavour, pipeline: Pipeline, run: Run, shape: str) -> None:
    raiser = Raiser(SHAPES[shape]())

    async def handler(item: int) -> None:
        await flavour.sleep(0.01)

    with raiser.raises() as caught:
        run.virtual(pipeline.run_pipeline, _items(raiser, 5), handler=handler, consumers=2, buffer=2)
    raiser.check(caught)


@shapes
@pytest.mark.clause("pipeline.handler_error")
def test_pipeline_handler_error_is_the_cause(flavour: Flavour, pipeline: Pipeline, run: Run, shape: str) -> None:
    raiser = Raiser(SHAPES[shape]())

    async def handler(item: int) -> None:
        await flavour.sleep(0.01)
        if item == 3:
            raiser()

    with pytest.raises(PipelineError) as caught:
        run.virtual(pipeline.run_pipeline, range(10), handler=handler, consumers=2, buffer=2)
    assert type(caught.value) is PipelineError
    assert caught.value.item == 3
    assert caught.value.__cause__ is raiser.error


@pytest.mark.clause("pipeline.handler_error")
def test_pipeline_two_failures_at_once_give_one_pipeline_error(flavour: Flavour, pipeline: Pipeline, run: Run) -> None:
    async def handler(item: int) -> None:
        await flavour.sleep(0.02)
        raise RuntimeError(f"item {item}")

    with pytest.raises(PipelineError) as caught:
        run.virtual(pipeline.run_pipeline, range(4), handler=handler, consumers=2, buffer=2)
    assert type(caught.value) is PipelineError
    assert caught.value.item in (0, 1)
    assert str(caught.value.__cause__) == f"item {caught.value.item}"


# --- timeouts: on_event, retry's operation and on_retry ----------------------------------------


@shapes
@pytest.mark.clause("timeouts.on_event")
def test_timeouts_on_event(timeouts: Timeouts, run: Run, shape: str) -> None:
    raiser = Raiser(SHAPES[shape]())
    events: list[tuple[int, TimedStep]] = []

    def on_event(index: int, event: TimedStep) -> None:
        events.append((index, event))
        if (index, event) == (1, TimedStep.STARTED):
            raiser()

    jobs = [TimedJob("slow", work_seconds=10, cleanup_seconds=0.01), TimedJob("raises", work_seconds=0.02)]
    with raiser.raises() as caught:
        run.virtual(timeouts.run_jobs, jobs, limit=2, on_event=on_event)
    raiser.check(caught)
    # The other job was stopped as by a cancel, and its cleanup still ran to its end.
    assert (0, TimedStep.CLEANED_UP) in events


@pytest.mark.clause("timeouts.on_event")
def test_timeouts_on_event_raising_for_two_jobs_at_once(timeouts: Timeouts, run: Run) -> None:
    raised: list[Exception] = []

    def on_event(index: int, event: TimedStep) -> None:
        if event is TimedStep.CLEANED_UP:
            raised.append(error := RuntimeError(f"job {index}"))
            raise error

    jobs = [TimedJob("a", work_seconds=0.02), TimedJob("b", work_seconds=0.02)]
    with pytest.raises(RuntimeError) as caught:
        run.virtual(timeouts.run_jobs, jobs, limit=2, on_event=on_event)
    assert any(caught.value is error for error in raised)


@shapes
@pytest.mark.clause("timeouts.retry.other_errors")
def test_retry_operation(flavour: Flavour, timeouts: Timeouts, run: Run, shape: str) -> None:
    raiser = Raiser(SHAPES[shape]())
    calls = 0

    async def operation() -> None:
        nonlocal calls
        calls += 1
        await flavour.sleep(0.01)
        if calls == 1:
            raise OSError("retryable")
        raiser()

    with raiser.raises() as caught:
        run.virtual(timeouts.retry, operation, retry_on=OSError, attempts=3, base_delay=0.01)
    raiser.check(caught)
    assert calls == 2


@shapes
@pytest.mark.clause("timeouts.retry.other_errors")
def test_retry_on_retry(timeouts: Timeouts, run: Run, shape: str) -> None:
    raiser = Raiser(SHAPES[shape]())

    async def operation() -> None:
        raise OSError("retryable")

    with raiser.raises() as caught:
        run.virtual(
            timeouts.retry,
            operation,
            retry_on=OSError,
            attempts=3,
            base_delay=0.01,
            timeout=5,
            on_retry=raiser,
        )
    raiser.check(caught)
    # Raised while retry handled the OSError: Python made that its context, and it stays.
    assert isinstance(caught.value.__context__, OSError)


# --- cancellation: the log of all three patterns -----------------------------------------------


def _log_raising_at(raiser: Raiser, job: str, step: JobStep) -> Callable[[JobEvent], None]:
    def log(event: JobEvent) -> None:
        if (event.job, event.step) == (job, step):
            raiser()

    return log


def _serve(cancellation: Cancellation, jobs: list[Job], log: Callable[[JobEvent], None]) -> Awaitable[object]:
    return cancellation.serve(jobs, workers=2, grace=1, shutdown=ShutdownSignal(), on_event=log)


def _race(cancellation: Cancellation, jobs: list[Job], log: Callable[[JobEvent], None]) -> Awaitable[object]:
    return cancellation.race_first(jobs, stagger=0, on_event=log)


def _all_or_nothing(cancellation: Cancellation, jobs: list[Job], log: Callable[[JobEvent], None]) -> Awaitable[object]:
    return cancellation.run_all_or_nothing(jobs, on_event=log)


PATTERNS = {"run_all_or_nothing": _all_or_nothing, "race_first": _race, "serve": _serve}


@pytest.mark.parametrize("pattern", list(PATTERNS))
@pytest.mark.parametrize("step", [JobStep.SUCCEEDED, JobStep.CLEANED_UP])
@shapes
@pytest.mark.clause("cancellation.all.on_event")
def test_cancellation_log(cancellation: Cancellation, run: Run, shape: str, pattern: str, step: JobStep) -> None:
    raiser = Raiser(SHAPES[shape]())
    cleaned: list[str] = []
    log = _log_raising_at(raiser, "b", step)

    def recording_log(event: JobEvent) -> None:
        if event.step is JobStep.CLEANED_UP:
            cleaned.append(event.job)
        log(event)

    jobs = [Job("a", work_seconds=10, cleanup_seconds=0.01), Job("b", work_seconds=0.02)]
    with raiser.raises() as caught:
        run.virtual(PATTERNS[pattern], cancellation, jobs, recording_log)
    raiser.check(caught)
    # The other job was stopped as by a cancel, and its cleanup ran to its end first.
    assert "a" in cleaned


@pytest.mark.clause("cancellation.all.on_event")
def test_cancellation_log_wins_over_a_job_failure(cancellation: Cancellation, run: Run) -> None:
    raiser = Raiser(_plain())
    jobs = [Job("fails", work_seconds=0.01, error=OSError)]

    with raiser.raises() as caught:
        run(cancellation.run_all_or_nothing, jobs, on_event=_log_raising_at(raiser, "fails", JobStep.FAILED))
    raiser.check(caught)


@pytest.mark.clause("cancellation.all.together")
def test_cancellation_two_failures_at_once_give_one_job_failed(cancellation: Cancellation, run: Run) -> None:
    jobs = [Job(name, work_seconds=0.02, error=OSError) for name in ("a", "b")]

    with pytest.raises(JobFailed) as caught:
        run.virtual(cancellation.run_all_or_nothing, jobs)
    assert type(caught.value) is JobFailed
    assert caught.value.job in ("a", "b")
    failed = {outcome.name: outcome.error for outcome in caught.value.outcomes}
    assert caught.value.__cause__ is failed[caught.value.job]
