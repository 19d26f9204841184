"""Pipeline behaviour (contract: shared.pipeline.Pipeline) on every flavour.

The handlers are the instruments: they record what they were given and when, and the
items come from generators that record when each item was taken. The assertions are about
counts and multisets, never about how the work spreads over the consumers (asyncio's
``Queue.get()`` hands over a ready item without yielding, so one consumer may take them all)
nor about completion order, except where the contract imposes one (one producer, one
consumer: FIFO). "Slow" handlers sleep on the loop's clock: virtual where the flavour has one,
a few real milliseconds on uvloop; every assertion holds however long those turn out to be.
Where a test needs several handlers to be running at once it waits for that to happen
instead of hoping a sleep was long enough.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shared.pipeline import Pipeline, PipelineError, PipelineReport
from tests.helpers import Run
from triptych.flavours import Flavour

SLOW = 0.005
"""A slow handler's sleep, in seconds: virtual time on four flavours, real on the uvloop two."""
FOREVER = 3600.0
"""A handler sleep that only a cancellation ends."""


async def _wait_until(flavour: Flavour, condition: Callable[[], bool], what: str) -> None:
    # Polls on the loop's clock; the bound only turns a broken pipeline into a clear failure.
    for _ in range(5000):
        if condition():
            return
        await flavour.sleep(0.001)
    raise AssertionError(f"never happened: {what}")


class Recorder:
    """A source of items and a handler that keep count of one run.

    ``outstanding`` is recorded at every item taken from the source: items taken minus items
    whose handler has returned, which backpressure bounds by consumers + buffer + producers.
    """

    def __init__(self, flavour: Flavour, items: list[Any], delay: float = 0.0) -> None:
        self.flavour, self.items, self.delay = flavour, items, delay
        self.taken = 0
        self.started: list[Any] = []
        self.handled: list[Any] = []
        self.outstanding: list[int] = []
        self.handled_when_exhausted: list[int] = []

    def source(self) -> Iterator[Any]:
        for item in self.items:
            self.taken += 1
            self.outstanding.append(self.taken - len(self.handled))
            yield item
        self.handled_when_exhausted.append(len(self.handled))

    async def handler(self, item: Any) -> None:
        self.started.append(item)
        await self.flavour.sleep(self.delay)
        self.handled.append(item)


# --- Every item exactly once --------------------------------------------------------------


@pytest.mark.parametrize(
    ("producers", "consumers", "buffer"),
    [(1, 1, 1), (3, 4, 2), (2, 7, 5), (4, 2, 64)],
    ids=lambda value: str(value),
)
@pytest.mark.clause("pipeline.once")
def test_every_item_is_handled_exactly_once(
    flavour: Flavour, pipeline: Pipeline, run: Run, producers: int, consumers: int, buffer: int
) -> None:
    items = [n % 37 for n in range(300)]  # repeats on purpose: handled once per occurrence
    handled: list[int] = []

    async def handler(item: int) -> None:
        # Some calls yield, some don't: both ways through every library's hand-off.
        if item % 3 == 0:
            await flavour.sleep(0)
        handled.append(item)

    report = run(pipeline.run_pipeline, items, handler=handler, consumers=consumers, buffer=buffer, producers=producers)

    assert Counter(handled) == Counter(items)
    assert (report.items_produced, report.items_handled) == (300, 300)
    assert len(report.handled_per_consumer) == consumers
    assert sum(report.handled_per_consumer) == 300
    assert len(report.produced_per_producer) == producers
    assert sum(report.produced_per_producer) == 300
    assert 0 <= report.max_buffered <= buffer


@pytest.mark.clause("pipeline.once")
def test_one_producer_and_one_consumer_keep_input_order(flavour: Flavour, pipeline: Pipeline, run: Run) -> None:
    recorder = Recorder(flavour, [f"item-{n}" for n in range(60)])

    report = run(pipeline.run_pipeline, recorder.source(), handler=recorder.handler, consumers=1, buffer=3)

    assert recorder.handled == recorder.items
    assert report.handled_per_consumer == (60,)
    assert report.produced_per_producer == (60,)


@pytest.mark.clause("pipeline.empty")
def test_no_items_give_a_report_of_zeros(flavour: Flavour, pipeline: Pipeline, run: Run) -> None:
    recorder = Recorder(flavour, [])

    report = run(pipeline.run_pipeline, recorder.source(), handler=recorder.handler, consumers=3, buffer=2, producers=2)

    assert report == PipelineReport(0, 0, (0, 0), (0, 0, 0), 0, 0)
    assert recorder.started == []


# --- Backpressure -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("producers", "consumers", "buffer"), [(1, 1, 1), (2, 1, 3), (3, 2, 4)], ids=lambda value: str(value)
)
@pytest.mark.clause("pipeline.backpressure")
def test_a_slow_consumer_fills_the_buffer_and_holds_the_producers_back(
    flavour: Flavour, pipeline: Pipeline, run: Run, producers: int, consumers: int, buffer: int
) -> None:
    count = 40
    recorder = Recorder(flavour, list(range(count)), delay=SLOW)

    report = run.virtual(
        pipeline.run_pipeline,
        recorder.source(),
        handler=recorder.handler,
        consumers=consumers,
        buffer=buffer,
        producers=producers,
    )

    assert Counter(recorder.handled) == Counter(range(count))
    # Taken from the source but not yet handled: one per consumer, a full buffer, one in
    # each producer's hand, and never more. Without backpressure the producers would take
    # all 40 while the first handler sleeps.
    assert max(recorder.outstanding) == consumers + buffer + producers
    assert report.max_buffered == buffer
    # Once the buffer is full, puts wait for consumers to take items out: in trio and anyio
    # every one (a take moves a waiting sender's item in at once), in asyncio at least one
    # per batch of up to `consumers` takes (a take only wakes a waiting producer, and the
    # first to run may refill several slots before it has to wait again).
    assert report.producer_waits * consumers >= count - (consumers + buffer + producers)


@pytest.mark.clause("pipeline.input_end")
def test_consumers_drain_what_is_left_after_the_producers_finish(
    flavour: Flavour, pipeline: Pipeline, run: Run
) -> None:
    count, buffer = 20, 4
    recorder = Recorder(flavour, list(range(count)), delay=SLOW)

    report = run.virtual(
        pipeline.run_pipeline,
        recorder.source(),
        handler=recorder.handler,
        consumers=2,
        buffer=buffer,
        producers=2,
    )

    # The source ran dry once, with at least a full buffer still to handle...
    assert len(recorder.handled_when_exhausted) == 1
    assert recorder.handled_when_exhausted[0] <= count - buffer
    # ...and the consumers handled all of it before the call returned.
    assert Counter(recorder.handled) == Counter(range(count))
    assert report.items_handled == count


@pytest.mark.clause("pipeline.backpressure")
def test_a_buffer_that_holds_everything_never_makes_a_producer_wait(
    flavour: Flavour, pipeline: Pipeline, run: Run
) -> None:
    recorder = Recorder(flavour, list(range(30)), delay=SLOW)

    report = run.virtual(
        pipeline.run_pipeline,
        recorder.source(),
        handler=recorder.handler,
        consumers=2,
        buffer=30,
        producers=2,
    )

    assert report.producer_waits == 0
    assert report.max_buffered <= 30
    assert Counter(recorder.handled) == Counter(range(30))


@pytest.mark.clause("pipeline.tasks")
def test_consumers_handle_items_at_the_same_time(flavour: Flavour, pipeline: Pipeline, run: Run) -> None:
    consumers = 4
    in_flight, peak = 0, 0

    async def handler(item: int) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            # Nobody gets past this until all the consumers have been in a handler at once.
            await _wait_until(flavour, lambda: peak == consumers, f"{consumers} handlers running at once")
        finally:
            in_flight -= 1

    report = run.virtual(
        pipeline.run_pipeline,
        range(12),
        handler=handler,
        consumers=consumers,
        buffer=2,
    )

    assert peak == consumers
    # The four handlers running at once belonged to four different consumers.
    assert all(handled >= 1 for handled in report.handled_per_consumer)
    assert report.items_handled == 12


# --- Errors and cancellation --------------------------------------------------------------


class Boom(Exception):
    pass


@pytest.mark.clause("pipeline.handler_error")
def test_a_failing_handler_cancels_everything_and_raises_one_shared_error(
    flavour: Flavour, pipeline: Pipeline, run: Run
) -> None:
    consumers = 3
    started: list[int] = []
    unwound: list[int] = []
    completed: list[int] = []
    failure: dict[str, Any] = {}

    async def handler(item: int) -> None:
        started.append(item)
        try:
            if len(started) == consumers:
                # Every other consumer is inside a handler now: fail, and they must be cancelled.
                failure["item"], failure["error"] = item, Boom("no good")
                raise failure["error"]
            await flavour.sleep(FOREVER)
            completed.append(item)
        finally:
            unwound.append(item)

    with pytest.raises(PipelineError) as caught:
        run(pipeline.run_pipeline, range(50), handler=handler, consumers=consumers, buffer=2, producers=2)

    error = caught.value
    assert type(error) is PipelineError
    assert error.item == failure["item"]
    assert error.__cause__ is failure["error"]
    assert str(error) == f"handling item {failure['item']} failed: Boom: no good"
    # The handlers still running were cancelled and had unwound before the call returned,
    # and no new one started after the failure.
    assert len(started) == consumers
    assert sorted(unwound) == sorted(started)
    assert completed == []


@pytest.mark.clause("pipeline.handler_error")
def test_handlers_failing_together_still_raise_one_shared_error(flavour: Flavour, pipeline: Pipeline, run: Run) -> None:
    started: list[int] = []

    async def handler(item: int) -> None:
        started.append(item)
        # All four wake in the same instant and fail together.
        await _wait_until(flavour, lambda: len(started) == 4, "4 handlers running at once")
        raise Boom(f"item {item}")

    with pytest.raises(PipelineError) as caught:
        run(pipeline.run_pipeline, range(20), handler=handler, consumers=4, buffer=4, producers=2)

    assert type(caught.value) is PipelineError
    assert caught.value.item in started
    assert isinstance(caught.value.__cause__, Boom)
    assert str(caught.value.__cause__) == f"item {caught.value.item}"


@pytest.mark.clause("pipeline.items_error")
def test_an_error_from_the_items_stops_everything_and_comes_out_unchanged(
    flavour: Flavour, pipeline: Pipeline, run: Run
) -> None:
    broken = LookupError("the source broke")
    recorder = Recorder(flavour, list(range(10)), delay=SLOW)
    unwound: list[int] = []

    def source() -> Iterator[int]:
        yield from recorder.source()
        raise broken

    async def handler(item: int) -> None:
        try:
            await recorder.handler(item)
        finally:
            unwound.append(item)

    with pytest.raises(LookupError) as caught:
        run.virtual(
            pipeline.run_pipeline,
            source(),
            handler=handler,
            consumers=2,
            buffer=2,
        )

    assert caught.value is broken
    # The last item was still waiting to be handled when the source broke: it never was.
    assert len(recorder.handled) < 10
    assert sorted(unwound) == sorted(recorder.started)


@pytest.mark.parametrize(
    ("count", "buffer"), [(100, 2), (5, 10)], ids=["producers-waiting-for-room", "producers-finished"]
)
@pytest.mark.clause("pipeline.cancel")
def test_a_cancel_from_outside_stops_everything(
    flavour: Flavour, pipeline: Pipeline, run: Run, count: int, buffer: int
) -> None:
    consumers = 3
    recorder = Recorder(flavour, list(range(count)), delay=FOREVER)
    unwound: list[int] = []

    async def handler(item: int) -> None:
        try:
            await recorder.handler(item)
        finally:
            unwound.append(item)

    async def scenario() -> tuple[bool, int]:
        # Cancelled once every consumer is busy and the producers have taken all they can.
        cancelled = await flavour.cancelled_when(
            lambda: len(recorder.started) == consumers and recorder.taken == min(count, consumers + buffer + 2),
            lambda: pipeline.run_pipeline(
                recorder.source(), handler=handler, consumers=consumers, buffer=buffer, producers=2
            ),
        )
        taken = recorder.taken
        # Nothing may still be taking items after the call has returned.
        await flavour.sleep(0.05)
        assert recorder.taken == taken
        return cancelled, taken

    cancelled, taken = run.virtual(scenario)

    assert cancelled is True
    assert len(recorder.started) == consumers
    assert sorted(unwound) == sorted(recorder.started)
    assert recorder.handled == []
    assert taken == min(count, consumers + buffer + 2)


# --- Bad input ----------------------------------------------------------------------------


async def _handler(item: object) -> None:
    pass


BAD_INPUT = [
    ({"consumers": 0}, ValueError, "`consumers` must be >= 1, got 0"),
    ({"consumers": 2.5}, TypeError, "`consumers` must be an int, got 2.5"),
    ({"buffer": 0}, ValueError, "`buffer` must be >= 1, got 0"),
    ({"buffer": -4}, ValueError, "`buffer` must be >= 1, got -4"),
    ({"buffer": True}, TypeError, "`buffer` must be an int, got True"),
    ({"buffer": None}, TypeError, "`buffer` must be an int, got None"),
    ({"producers": 0}, ValueError, "`producers` must be >= 1, got 0"),
    ({"producers": "2"}, TypeError, "`producers` must be an int, got '2'"),
    ({"items": 5}, TypeError, "`items` must be iterable, got 5"),
    ({"items": None}, TypeError, "`items` must be iterable, got None"),
    ({"handler": None}, TypeError, "`handler` must be an async callable, got None"),
    ({"handler": "print"}, TypeError, "`handler` must be an async callable, got 'print'"),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD_INPUT, ids=[m for _, _, m in BAD_INPUT])
@pytest.mark.clause("pipeline.args")
def test_bad_input_fails_alike_everywhere(
    pipeline: Pipeline, run: Run, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    kwargs = {"items": range(3), "handler": _handler, "consumers": 2, "buffer": 2, **kwargs}

    async def scenario() -> None:
        await pipeline.run_pipeline(**kwargs)

    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        run(scenario)
