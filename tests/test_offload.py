"""Offload behaviour (contract: shared.offload.Offload) on every flavour, with real threads.

The blocking functions are the instruments: they record, under a lock, when they start and
finish and on which thread, and they wait on ``threading`` conditions that the test sets up,
never on a fixed sleep. Two waits are bounded on purpose:

- ``BACKSTOP`` only turns a broken implementation into a failure instead of a hang;
- ``GRACE`` is how long a call in a thread waits for the sign that the offload call has
  already returned. A correct implementation never gives that sign while the call runs (it
  waits for the thread), so those tests take ``GRACE`` each; one that stops waiting at once,
  as ``asyncio.to_thread`` does, gives it at once and the event log shows it. That is the
  price of showing that something does not happen.

The leak check in conftest fails a test that leaves a thread running; Trio's idle cache
threads ("Trio thread N") are the library's and are not counted.
"""

from __future__ import annotations

import contextvars
import re
import threading
from collections.abc import Callable
from typing import Any

import pytest

from shared.offload import Offload, OffloadError, Report
from tests.helpers import Run
from triptych.flavours import Flavour

BACKSTOP = 10.0
"""Seconds a thread waits for a condition before the test fails as hung."""
GRACE = 0.2
"""Seconds a call in a thread waits for a sign that it was abandoned (see the module docstring)."""

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


class Boom(Exception):
    pass


class Calls:
    """What the blocking calls did: an ordered log of events, shared with the loop under a lock."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.log: list[tuple[str, Any]] = []
        self.started: list[Any] = []
        self.threads: set[int] = set()
        self.call_returned = threading.Event()

    def event(self, what: str, item: Any = None) -> None:
        with self.lock:
            self.log.append((what, item))
            if what == "started":
                self.started.append(item)
                self.threads.add(threading.get_ident())
            self.lock.notify_all()

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        with self.lock:
            if not self.lock.wait_for(condition, BACKSTOP):
                raise AssertionError(f"never happened: {what}")

    def finished(self) -> list[Any]:
        return [item for what, item in self.log if what == "finished"]

    def before_return(self, what: str) -> list[Any]:
        """The items of ``what`` events logged before the offload call returned."""
        end = self.log.index(("returned", None))
        return [item for event, item in self.log[:end] if event == what]


async def _in_loop(calls: Calls, call: Callable[[], Any]) -> Any:
    """Await ``call()``; log its return (or its raising) so the threads' events can be ordered against it."""
    try:
        return await call()
    finally:
        calls.event("returned")
        calls.call_returned.set()


# --- Results, order and the bound ----------------------------------------------------------


@pytest.mark.clause("offload.order")
def test_results_come_back_in_input_order_however_the_calls_finish(offload: Offload, run: Run) -> None:
    count = 6
    done = [threading.Event() for _ in range(count)]
    calls = Calls()

    def square(item: int) -> int:
        calls.event("started", item)
        # The last item finishes first, then each waits for the one after it: reverse order.
        if item + 1 < count:
            assert done[item + 1].wait(BACKSTOP)
        calls.event("finished", item)
        done[item].set()
        return item * item

    async def scenario() -> tuple[list[int], int]:
        return await offload.run_in_threads(square, range(count), limit=count), threading.get_ident()

    results, loop_thread = run(scenario)

    assert results == [n * n for n in range(count)]
    assert calls.finished() == list(reversed(range(count)))
    assert loop_thread not in calls.threads


@pytest.mark.parametrize("limit", [1, 3, 8, 41])
@pytest.mark.clause("offload.limit")
def test_at_most_limit_calls_run_at_once_and_exactly_limit_do(offload: Offload, run: Run, limit: int) -> None:
    # 8 is more than asyncio's default executor holds here (min(32, cpus + 4)); 41 is more
    # than Trio's and AnyIO's default thread limiter (40): the bound is `limit`, not theirs.
    calls = Calls()
    in_threads, peak = 0, 0

    def hold(item: int) -> int:
        nonlocal in_threads, peak
        with calls.lock:
            in_threads += 1
            peak = max(peak, in_threads)
            calls.lock.notify_all()
        try:
            # Nobody leaves until `limit` calls have been in threads at once.
            calls.wait_for(lambda: peak >= limit, f"{limit} calls in threads at once")
        finally:
            with calls.lock:
                in_threads -= 1
        return item

    results = run(offload.run_in_threads, hold, range(3 * limit), limit=limit)

    assert results == list(range(3 * limit))
    assert peak == limit


@pytest.mark.clause("offload.empty")
def test_no_items_return_an_empty_list_and_start_no_thread(offload: Offload, run: Run) -> None:
    calls = Calls()

    async def scenario() -> tuple[list[Any], bool]:
        threads = set(threading.enumerate())
        results = await offload.run_in_threads(lambda item: calls.event("started", item), [], limit=4)
        return results, set(threading.enumerate()) == threads

    results, same_threads = run(scenario)

    assert results == []
    assert same_threads
    assert calls.log == []


@pytest.mark.clause("offload.context")
def test_each_call_runs_in_a_copy_of_the_callers_context(offload: Offload, run: Run) -> None:
    def read_then_write(item: int) -> str:
        seen = request_id.get()
        request_id.set(f"set by call {item}")
        return seen

    async def scenario() -> tuple[list[str], str]:
        request_id.set("the caller's")
        # One thread, so every call after the first runs where another has just set the variable.
        results = await offload.run_in_threads(read_then_write, range(3), limit=1)
        return results, request_id.get()

    results, after = run(scenario)

    assert results == ["the caller's"] * 3
    assert after == "the caller's"


# --- Failures ------------------------------------------------------------------------------


@pytest.mark.parametrize("abandon", [False, True], ids=["waits", "abandons"])
@pytest.mark.clause("offload.failure", "offload.cancel")
def test_a_failing_call_raises_one_shared_error_with_its_exception_as_cause(
    offload: Offload, run: Run, abandon: bool
) -> None:
    limit = 3
    calls = Calls()
    failure: dict[str, Any] = {}

    def work(item: int) -> int:
        calls.event("started", item)
        try:
            with calls.lock:
                last = len(calls.started) == limit
            if last:
                # Every other call is in a thread now: fail, and they must be waited for.
                calls.event("failing", item)
                failure["item"], failure["error"] = item, Boom("no good")
                raise failure["error"]
            # The others end after the failure, so it reaches the loop first however busy the
            # loop is, and a moment later still unless the offload call returned at once.
            calls.wait_for(lambda: any(what == "failing" for what, _ in calls.log), "the failing call")
            calls.call_returned.wait(GRACE)
            return item
        finally:
            calls.event("finished", item)

    with pytest.raises(OffloadError) as caught:
        run(_in_loop, calls, lambda: offload.run_in_threads(work, range(9), limit=limit, abandon_on_cancel=abandon))

    error = caught.value
    assert type(error) is OffloadError
    assert error.__cause__ is failure["error"]
    assert (error.index, error.item) == (failure["item"], failure["item"])
    assert str(error) == f"offloaded call {failure['item']} on {failure['item']} failed: Boom: no good"
    calls.wait_for(lambda: len(calls.finished()) == len(calls.started), "every started call finished")
    # The waiting items were dropped, but for at most one: the token the failed call freed may
    # pass to the next item before the failure reaches its task group.
    assert limit <= len(calls.started) <= limit + 1
    finished_first = sorted(calls.before_return("finished"))
    if abandon:
        assert failure["item"] in finished_first
        assert set(finished_first) <= {failure["item"], *calls.started[limit:]}
    else:
        assert finished_first == sorted(calls.started)


@pytest.mark.clause("offload.failure")
def test_calls_failing_together_still_raise_one_shared_error(offload: Offload, run: Run) -> None:
    calls = Calls()
    errors = {item: Boom(f"item {item}") for item in range(4)}

    def fail(item: int) -> None:
        calls.event("started", item)
        calls.wait_for(lambda: len(calls.started) == 4, "4 calls in threads at once")
        raise errors[item]

    with pytest.raises(OffloadError) as caught:
        run(offload.run_in_threads, fail, range(4), limit=4)

    assert type(caught.value) is OffloadError
    assert isinstance(caught.value.item, int)
    assert caught.value.__cause__ is errors[caught.value.item]


# --- Cancellation --------------------------------------------------------------------------


@pytest.mark.parametrize("abandon", [False, True], ids=["waits", "abandons"])
@pytest.mark.clause("offload.cancel")
def test_a_cancel_drops_the_waiting_calls_and_waits_for_the_running_ones(
    flavour: Flavour, offload: Offload, run: Run, abandon: bool
) -> None:
    limit = 2
    calls = Calls()

    def work(item: int) -> int:
        calls.event("started", item)
        # The calls end after the cancel, so it reaches the loop first however busy the loop
        # is, and a moment later still unless the offload call returned at once.
        calls.wait_for(lambda: ("cancelling", None) in calls.log, "the cancel")
        calls.call_returned.wait(GRACE)
        calls.event("finished", item)
        return item

    def every_thread_busy() -> bool:
        if len(calls.started) < limit:
            return False
        calls.event("cancelling")
        return True

    async def scenario() -> bool:
        cancelled: bool = await _in_loop(
            calls,
            lambda: flavour.cancelled_when(
                every_thread_busy,
                lambda: offload.run_in_threads(work, range(6), limit=limit, abandon_on_cancel=abandon),
            ),
        )
        return cancelled

    cancelled = run(scenario)

    assert cancelled is True
    calls.wait_for(lambda: len(calls.finished()) == limit, "every started call finished")
    assert len(calls.started) == limit
    if abandon:
        assert calls.before_return("finished") == []
    else:
        assert sorted(calls.before_return("finished")) == sorted(calls.started)


@pytest.mark.clause("offload.cancel")
def test_a_thread_freed_while_the_loop_is_busy_takes_no_item_that_a_cancel_drops(
    flavour: Flavour, offload: Offload, run: Run
) -> None:
    calls = Calls()

    def work(item: int) -> int:
        calls.event("started", item)
        calls.wait_for(lambda: ("loop busy", None) in calls.log, "the loop busy")
        calls.event("finished", item)
        return item

    def busy_then_cancel() -> bool:
        if not calls.started:
            return False
        # The loop is busy (blocked, here) while the first call ends; its thread is free but
        # the loop has not seen it. A queue outside the loop would hand that thread the next
        # item now: give it the time to.
        calls.event("loop busy")
        calls.wait_for(lambda: calls.finished() == calls.started, "the first call finished")
        with calls.lock:
            calls.lock.wait_for(lambda: len(calls.started) > 1, GRACE)
        return True

    async def scenario() -> bool:
        return await flavour.cancelled_when(busy_then_cancel, lambda: offload.run_in_threads(work, range(3), limit=1))

    assert run(scenario) is True
    assert len(calls.started) == 1


# --- Reports back to the loop --------------------------------------------------------------


@pytest.mark.clause("offload.report")
def test_reports_run_in_the_loop_in_order(flavour: Flavour, offload: Offload, run: Run) -> None:
    progress: list[tuple[int, object, int]] = []

    def count_up(item: int, report: Report) -> list[bool]:
        return [report(step) for step in range(5)]

    async def on_progress(item: int, value: object) -> None:
        await flavour.sleep(0)  # an await, as a real report would have
        progress.append((item, value, threading.get_ident()))

    async def scenario() -> tuple[list[list[bool]], int]:
        results = await offload.run_in_threads_reporting(count_up, range(4), limit=2, on_progress=on_progress)
        return results, threading.get_ident()

    results, loop_thread = run(scenario)

    assert results == [[True] * 5] * 4
    for item in range(4):
        assert [value for who, value, _ in progress if who == item] == list(range(5))
    assert {thread for _, _, thread in progress} == {loop_thread}


@pytest.mark.clause("offload.report", "offload.cancel")
def test_a_cancel_makes_report_return_false_and_the_call_waits_for_the_threads(
    flavour: Flavour, offload: Offload, run: Run
) -> None:
    limit = 2
    calls = Calls()
    progress: dict[int, list[object]] = {}
    answers: dict[int, list[bool]] = {}

    def report_until_told_to_stop(item: int, report: Report) -> None:
        calls.event("started", item)
        answers[item] = []
        step = 0
        while report(step):
            answers[item].append(True)
            step += 1
        answers[item].append(False)
        answers[item].append(report(step))  # once stopping, it stays so
        calls.call_returned.wait(GRACE)
        calls.event("finished", item)

    async def on_progress(item: int, value: object) -> None:
        progress.setdefault(item, []).append(value)

    async def scenario() -> bool:
        cancelled: bool = await _in_loop(
            calls,
            lambda: flavour.cancelled_when(
                lambda: len(progress) == limit,
                lambda: offload.run_in_threads_reporting(
                    report_until_told_to_stop, range(5), limit=limit, on_progress=on_progress
                ),
            ),
        )
        return cancelled

    cancelled = run(scenario)

    assert cancelled is True
    assert len(calls.started) == limit
    assert sorted(calls.before_return("finished")) == sorted(calls.started)
    for item in calls.started:
        reported, went_on = progress[item], answers[item][:-2]
        assert reported == list(range(len(reported)))
        assert answers[item][-2:] == [False, False]
        assert went_on == [True] * len(went_on)
        # The report that said stop ran on_progress only if the cancel came while it ran.
        assert len(reported) - len(went_on) in (0, 1)


@pytest.mark.clause("offload.report")
def test_an_error_from_on_progress_is_raised_by_report_in_the_thread(offload: Offload, run: Run) -> None:
    refused = Boom("progress refused")

    def work(item: int, report: Report) -> str:
        if item == 0:
            report("let it out")
        try:
            report("catch it")
        except Boom as exc:
            return f"caught {exc}"
        return "not raised"

    async def on_progress(item: int, value: object) -> None:
        raise refused

    with pytest.raises(OffloadError) as caught:
        run(offload.run_in_threads_reporting, work, [0], limit=1, on_progress=on_progress)
    assert caught.value.__cause__ is refused

    assert (
        run(offload.run_in_threads_reporting, work, [1, 2], limit=2, on_progress=on_progress)
        == ["caught progress refused"] * 2
    )


@pytest.mark.clause("offload.report")
def test_a_report_that_has_started_runs_to_its_end_when_the_call_is_cancelled(
    flavour: Flavour, offload: Offload, run: Run
) -> None:
    reporting = threading.Event()
    completed: list[object] = []
    answers: list[bool] = []

    def work(item: str, report: Report) -> None:
        if item == "fails":
            assert reporting.wait(BACKSTOP)
            raise Boom("while the other reports")
        step = 0
        while report(step):
            answers.append(True)
            step += 1
        answers.append(False)

    async def on_progress(item: str, value: object) -> None:
        tasks = await flavour.count_tasks()
        reporting.set()
        # Wait until the failing call's task has ended: its sibling, this one, is cancelled now.
        while await flavour.count_tasks() >= tasks:
            await flavour.sleep(0.001)
        # Checkpoints a cancel would stop, were this report not running to its end.
        await flavour.sleep(0.001)
        await flavour.sleep(0)
        completed.append(value)

    with pytest.raises(OffloadError) as caught:
        run(offload.run_in_threads_reporting, work, ["reports", "fails"], limit=2, on_progress=on_progress)

    assert caught.value.item == "fails"
    assert completed == [0]
    assert answers[-1] is False


# --- Bad input -----------------------------------------------------------------------------


def _blocking(item: object) -> object:
    return item


async def _not_blocking(item: object) -> object:
    return item


async def _on_progress(item: object, value: object) -> None:
    pass


BAD_INPUT: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"func": None}, TypeError, "`func` must be a blocking (not async) callable, got None"),
    ({"func": _not_blocking}, TypeError, f"`func` must be a blocking (not async) callable, got {_not_blocking!r}"),
    ({"items": 5}, TypeError, "`items` must be iterable, got 5"),
    ({"items": None}, TypeError, "`items` must be iterable, got None"),
    ({"limit": 0}, ValueError, "`limit` must be >= 1, got 0"),
    ({"limit": -2}, ValueError, "`limit` must be >= 1, got -2"),
    ({"limit": 2.5}, TypeError, "`limit` must be an int, got 2.5"),
    ({"limit": True}, TypeError, "`limit` must be an int, got True"),
    ({"limit": None}, TypeError, "`limit` must be an int, got None"),
    ({"abandon_on_cancel": 1}, TypeError, "`abandon_on_cancel` must be a bool, got 1"),
    ({"abandon_on_cancel": "yes"}, TypeError, "`abandon_on_cancel` must be a bool, got 'yes'"),
    ({"on_progress": None}, TypeError, "`on_progress` must be an async callable, got None"),
    ({"on_progress": "print"}, TypeError, "`on_progress` must be an async callable, got 'print'"),
]


BAD_CALLS = [
    # The id leaves out a function's address, which differs from one process to the next.
    pytest.param(
        reporting,
        kwargs,
        error,
        message,
        id=f"{'reporting-' if reporting else ''}{re.sub(' at 0x[0-9a-f]+', '', message)}",
    )
    for reporting in (False, True)
    for kwargs, error, message in BAD_INPUT
    if reporting or "on_progress" not in kwargs
]


@pytest.mark.parametrize(("reporting", "kwargs", "error", "message"), BAD_CALLS)
@pytest.mark.clause("offload.args", "offload.reporting.args")
def test_bad_input_fails_alike_everywhere_before_any_call(
    offload: Offload, run: Run, reporting: bool, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    called: list[object] = []
    defaults: dict[str, Any] = {"func": called.append, "items": range(3), "limit": 2}
    if reporting:
        defaults["on_progress"] = _on_progress
    call = offload.run_in_threads_reporting if reporting else offload.run_in_threads

    async def scenario() -> None:
        await call(**{**defaults, **kwargs})

    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        run(scenario)
    assert called == []
