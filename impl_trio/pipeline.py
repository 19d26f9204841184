"""Producer/consumer pipeline in raw Trio: a nursery around a memory channel, a clone per task.

Contract and docstrings: :class:`shared.pipeline.Pipeline`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TypeVar

import trio

from shared.errors import one_error, surfaces_caller_errors
from shared.pipeline import PipelineError, PipelineReport, Tally, check_pipeline_args

__all__ = ["run_pipeline"]

T = TypeVar("T")


# --- Producers -----------------------------------------------------------------------------


async def _put(send: trio.MemorySendChannel[T], item: T, tally: Tally) -> None:
    # send() is a checkpoint on every call, taken before the item goes in; so is this. Then
    # send_nowait(): WouldBlock says, with no race, that this send must wait, and when it
    # need not, the level is read before any other task runs.
    await trio.lowlevel.checkpoint()
    try:
        send.send_nowait(item)
    except trio.WouldBlock:
        tally.waited()
        await send.send(item)
    else:
        tally.buffered(send.statistics().current_buffer_used)


async def _produce(send: trio.MemorySendChannel[T], index: int, source: Iterator[T], tally: Tally) -> None:
    # Closing this clone is how the input ends: when the last producer's clone closes, the
    # consumers' loops end. A sync `with`: an `async with` would checkpoint on the way out,
    # and a cancel landing there would replace the error that is leaving.
    with send:
        # One iterator feeds every producer: the loop runs one task at a time, so next()
        # never races, and an item leaves `source` only when its producer is about to send it.
        for item in source:
            await _put(send, item, tally)
            tally.produced(index)


# --- Consumers -----------------------------------------------------------------------------


async def _consume(
    receive: trio.MemoryReceiveChannel[T], index: int, handler: Callable[[T], Awaitable[object]], tally: Tally
) -> None:
    with receive:
        # Ends with EndOfChannel once every send clone is closed and the buffer is empty.
        async for item in receive:
            try:
                await handler(item)
            except Exception as exc:
                raise PipelineError(item, exc) from exc
            tally.handled(index)


# --- Public API ----------------------------------------------------------------------------


@surfaces_caller_errors
async def run_pipeline(
    items: Iterable[T],
    *,
    handler: Callable[[T], Awaitable[object]],
    consumers: int,
    buffer: int,
    producers: int = 1,
) -> PipelineReport:
    """Contract: :meth:`shared.pipeline.Pipeline.run_pipeline`."""
    source, consumers, buffer, producers = check_pipeline_args(items, handler, consumers, buffer, producers)
    tally = Tally(producers, consumers)
    send, receive = trio.open_memory_channel[T](buffer)
    try:
        # A failing consumer makes the nursery cancel the producers (blocked in send() or
        # not) and every other consumer, and wait for them before it raises.
        async with trio.open_nursery() as tasks:
            # Every task gets its own clone; the originals close as soon as they are cloned,
            # so only the tasks hold the channel open.
            with send, receive:
                for index in range(consumers):
                    tasks.start_soon(_consume, receive.clone(), index, handler, tally)
                for index in range(producers):
                    tasks.start_soon(_produce, send.clone(), index, source, tally)
    except BaseExceptionGroup as group:
        # The nursery wraps the PipelineError, alongside any BrokenResourceError it caused
        # in a producer by closing the last receive end (see shared.errors).
        raise one_error(group, failure=PipelineError)
    return tally.report()
