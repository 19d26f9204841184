"""The divergence catalogue's probes in raw asyncio: each the shortest program that shows one entry.

Entries (what differs, what it means for you, sources): :data:`shared.divergences.ENTRIES`.
Each probe returns a small observation; the suite pins it per flavour and per Python.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import signal
import threading
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing, suppress

__all__ = [
    "second_await_after_timeout",
    "swallowed_cancellation",
    "cancelled_before_first_step",
    "value_ready_at_cancel",
    "shielded_cleanup",
    "one_failing_child",
    "failing_body",
    "spawn_into_failing_group",
    "cancel_the_group",
    "outer_timeout_and_failing_child",
    "checkpoints_when_ready",
    "ready_task_order",
    "spawn_runs_first_step",
    "timeout_error_type",
    "default_buffer",
    "producers_closing",
    "release_from_another_task",
    "over_release",
    "lock_handover",
    "cancel_during_thread_call",
    "context_in_worker_thread",
    "default_thread_limit",
    "yield_inside_timeout",
    "ctrl_c",
    "group_cancelled_before_started",
    "reuse_cancel_scope",
    "clock_origin",
    "first_error_among_siblings",
    "wait_for_task",
    "stop_reading_early",
    "cancel_condition_wait",
    "end_of_stream",
    "reset_event",
    "reacquire_own_lock",
]

CVAR: contextvars.ContextVar[str] = contextvars.ContextVar("CVAR", default="not copied")


# --- Helpers ---------------------------------------------------------------------------------


async def _note(steps: list[str], step: str) -> None:
    steps.append(step)


def _describe(group: BaseExceptionGroup[BaseException]) -> str:
    return f"{type(group).__name__}({', '.join(type(exc).__name__ for exc in group.exceptions)})"


async def _fail() -> None:
    raise ValueError("child failed")


# --- Cancellation ------------------------------------------------------------------------------


async def second_await_after_timeout() -> str:
    with suppress(TimeoutError):
        async with asyncio.timeout(0):
            try:
                await asyncio.sleep(3600)
            finally:
                await asyncio.sleep(0)
                return "completes"  # noqa: B012
    return "cancelled again"


async def swallowed_cancellation() -> str:
    with suppress(TimeoutError):
        async with asyncio.timeout(0):
            with suppress(asyncio.CancelledError):
                await asyncio.sleep(3600)
            await asyncio.sleep(0)
            return "runs on"
    return "cancelled again"


async def cancelled_before_first_step() -> str:
    steps: list[str] = []

    async def child() -> None:
        steps.append("ran to its first await")
        await asyncio.sleep(0)

    with suppress(asyncio.CancelledError):  # asyncio.TaskGroup cannot be cancelled: cancel the task
        task = asyncio.create_task(child())
        task.cancel()
        await task
    return steps[0] if steps else "never ran"


async def value_ready_at_cancel() -> str:
    received: list[str] = []
    future = asyncio.get_running_loop().create_future()  # asyncio's way to hand one value over

    async def receive() -> None:
        received.append(await future)

    task = asyncio.create_task(receive())
    await asyncio.sleep(0)
    future.set_result("value")
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
    return "kept" if received else "lost"


async def shielded_cleanup() -> list[str]:
    steps: list[str] = []

    async def clean_up() -> None:
        await asyncio.sleep(0)
        steps.append("cleanup finished")

    with suppress(TimeoutError):
        async with asyncio.timeout(0):
            cleanup = asyncio.ensure_future(clean_up())
            await asyncio.shield(cleanup)
    steps.append("caller resumed")
    await cleanup  # nobody else owns it
    return steps


# --- Task groups -------------------------------------------------------------------------------


async def one_failing_child() -> str:
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(_fail())
    except BaseExceptionGroup as exc:
        return _describe(exc)
    return "no error"


async def failing_body() -> list[str]:
    steps: list[str] = []

    async def child() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            steps.append("child cancelled")
            raise

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(child())
            await asyncio.sleep(0)
            raise ValueError("body failed")
    except BaseExceptionGroup as exc:
        steps.append(_describe(exc))
    return steps


async def spawn_into_failing_group() -> list[str]:
    steps: list[str] = []

    async def late() -> None:
        steps.append("late child started")
        await asyncio.sleep(3600)

    with suppress(BaseExceptionGroup):
        async with asyncio.TaskGroup() as group:
            group.create_task(_fail())
            try:
                await asyncio.sleep(3600)
            finally:
                coroutine = late()
                try:
                    group.create_task(coroutine)
                except RuntimeError:
                    coroutine.close()  # before 3.13 create_task leaves it unawaited
                    steps.append("RuntimeError")
    return steps


async def cancel_the_group() -> list[str]:
    steps: list[str] = []
    async with asyncio.TaskGroup() as group:
        child = group.create_task(asyncio.sleep(3600))
        if not hasattr(group, "cancel"):  # TaskGroup.cancel() is new in Python 3.15
            child.cancel()
            return ["no TaskGroup.cancel()"]
        group.cancel()
        steps.append("body ran on")
        await asyncio.sleep(0)
        steps.append("body passed an await")
    steps.append("left quietly")
    return steps


async def outer_timeout_and_failing_child() -> str:
    try:
        async with asyncio.timeout(0):
            async with asyncio.TaskGroup() as group:
                group.create_task(_fail())
                await asyncio.sleep(3600)
    except BaseExceptionGroup as exc:
        return _describe(exc)
    except TimeoutError:
        return "TimeoutError"
    return "no error"


# --- Scheduling and checkpoints ----------------------------------------------------------------


async def checkpoints_when_ready() -> dict[str, str]:
    observed: dict[str, str] = {}
    lock, queue = asyncio.Lock(), asyncio.Queue[int]()
    queue.put_nowait(1)
    for name, operation in (("Lock.acquire", lock.acquire), ("Queue.get", queue.get)):
        asyncio.current_task().cancel()  # type: ignore[union-attr]
        try:
            await operation()
            observed[name] = "no checkpoint"
            await asyncio.sleep(0)  # the pending cancel lands here instead
        except asyncio.CancelledError:
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            observed.setdefault(name, "checkpoint")
    return observed


async def ready_task_order() -> list[str]:
    orders: set[str] = set()
    for _ in range(64):  # Trio reverses half of its batches: 64 rounds all alike is a 2**-63 chance
        order: list[str] = []
        async with asyncio.TaskGroup() as group:
            for name in "ab":
                group.create_task(_note(order, name))
        orders.add("".join(order))
    return sorted(orders)


async def spawn_runs_first_step() -> list[str]:
    steps: list[str] = []
    factory = getattr(asyncio, "eager_task_factory", None)
    if factory is None:
        return ["no eager_task_factory (Python 3.12+)"]
    loop = asyncio.get_running_loop()
    loop.set_task_factory(factory)
    try:
        async with asyncio.TaskGroup() as group:
            coroutine = _note(steps, "child's first step")
            try:
                group.create_task(coroutine)
            except TypeError:  # uvloop 0.23 on Python 3.13 passes the factory an eager_start it refuses
                coroutine.close()
                return ["TypeError from create_task"]
            steps.append("create_task returned")
    finally:
        loop.set_task_factory(None)  # the runner's own tasks stay lazy
    return steps


# --- Timeouts ----------------------------------------------------------------------------------


async def timeout_error_type() -> str:
    try:
        async with asyncio.timeout(0):
            await asyncio.sleep(3600)
    except Exception as exc:
        return f"{type(exc).__name__}, {'a' if isinstance(exc, TimeoutError) else 'not a'} TimeoutError"
    return "no error"


# --- Queues and channels -----------------------------------------------------------------------


async def default_buffer() -> str:
    queue = asyncio.Queue[int]()
    for sent in range(1000):
        try:
            queue.put_nowait(sent)
        except asyncio.QueueFull:
            return f"{sent} items"
    return "unbounded"


async def producers_closing() -> list[str]:
    queue = asyncio.Queue[str]()
    if not hasattr(queue, "shutdown"):
        return ["no Queue.shutdown (Python 3.13+)"]
    steps: list[str] = []
    queue.put_nowait("from a")
    queue.shutdown()  # producer a is done; producer b is not
    try:
        queue.put_nowait("from b")
    except asyncio.QueueShutDown:  # type: ignore[attr-defined]  # new in Python 3.13
        steps.append("b refused: QueueShutDown")
    while not queue.empty():
        steps.append(await queue.get())
    return steps


# --- Synchronization ---------------------------------------------------------------------------


async def release_from_another_task() -> str:
    lock = asyncio.Lock()
    await lock.acquire()

    async def release() -> None:
        lock.release()

    try:
        await asyncio.create_task(release())
    except RuntimeError as exc:
        return type(exc).__name__
    return "released"


async def over_release() -> dict[str, str]:
    observed: dict[str, str] = {}
    for name, semaphore in (("plain", asyncio.Semaphore(1)), ("bounded", asyncio.BoundedSemaphore(1))):
        try:
            semaphore.release()
            observed[name] = f"value {semaphore._value}"
        except ValueError:
            observed[name] = "ValueError"
    return observed


async def lock_handover() -> list[str]:
    order: list[str] = []
    lock = asyncio.Lock()

    async def waiter() -> None:
        async with lock:
            order.append("waiter")

    async with asyncio.TaskGroup() as group:
        async with lock:
            group.create_task(waiter())
            await asyncio.sleep(0)  # the waiter is now queued on the lock
        async with lock:  # released and at once wanted again
            order.append("releaser")
    return order


# --- Threads -----------------------------------------------------------------------------------


async def cancel_during_thread_call() -> str:
    finished = threading.Event()

    def work() -> None:
        time.sleep(0.2)
        finished.set()

    with suppress(TimeoutError):
        async with asyncio.timeout(0.05):  # once the thread has started
            await asyncio.to_thread(work)
    return "caller waited for the thread" if finished.is_set() else "caller resumed, thread runs on"


async def context_in_worker_thread() -> dict[str, str]:
    CVAR.set("copied")
    loop = asyncio.get_running_loop()
    return {
        "to_thread": await asyncio.to_thread(CVAR.get),
        "run_in_executor": await loop.run_in_executor(None, CVAR.get),
    }


async def default_thread_limit() -> int:
    # Both loops make their default executor as a ThreadPoolExecutor() of the default size.
    return concurrent.futures.ThreadPoolExecutor()._max_workers


# --- Generators, signals, scopes and the clock -------------------------------------------------


async def yield_inside_timeout() -> str:
    async def ticks() -> AsyncGenerator[int, None]:
        async with asyncio.timeout(0):
            yield 1
            await asyncio.sleep(3600)

    try:
        async with aclosing(ticks()) as stream:
            async for _ in stream:
                await asyncio.sleep(0)  # the consumer's own await
        return "no error"
    except BaseException as exc:
        return f"{type(exc).__name__} in the consumer"


async def ctrl_c() -> str:
    try:
        signal.raise_signal(signal.SIGINT)
        await asyncio.sleep(3600)
    except (asyncio.CancelledError, KeyboardInterrupt) as exc:
        return f"{type(exc).__name__} in the main task"
    return "nothing"


async def group_cancelled_before_started() -> str:
    return "start() exists" if hasattr(asyncio.TaskGroup, "start") else "no TaskGroup.start()"


async def reuse_cancel_scope() -> str:
    scope = asyncio.timeout(None)
    async with scope:
        pass
    try:
        async with scope:
            pass
    except RuntimeError:
        return "RuntimeError"
    return "reused"


async def clock_origin() -> str:
    offset = asyncio.get_running_loop().time() - time.monotonic()
    return "time.monotonic()" if abs(offset) < 1 else "offset from time.monotonic()"


# --- What asyncio's tutorials teach ------------------------------------------------------------


async def first_error_among_siblings() -> str:
    release = asyncio.Event()
    sibling = asyncio.ensure_future(release.wait())
    try:
        await asyncio.gather(_fail(), sibling)
    except ValueError:
        state = "sibling cancelled" if sibling.cancelled() else "sibling runs on"
    release.set()
    await sibling
    return state


async def wait_for_task() -> str:
    async def inner() -> asyncio.Task[object] | None:
        return asyncio.current_task()

    return "same task" if await asyncio.wait_for(inner(), 3600) is asyncio.current_task() else "new task"


async def stop_reading_early() -> list[str]:
    rest = asyncio.ensure_future(asyncio.Event().wait())
    for next_done in asyncio.as_completed([asyncio.sleep(0, "first"), rest]):
        first = str(await next_done)
        break
    left = "rest stopped" if rest.done() else "rest still running"
    rest.cancel()  # nobody else will
    with suppress(asyncio.CancelledError):
        await rest
    return [first, left]


async def cancel_condition_wait() -> str:
    condition = asyncio.Condition()
    observed: list[str] = []

    async def waiter() -> None:
        async with condition:
            try:
                await condition.wait()
            except asyncio.CancelledError:
                observed.append("holds the lock" if condition.locked() else "without the lock")
                raise

    async with asyncio.TaskGroup() as group:
        task = group.create_task(waiter())
        await asyncio.sleep(0)
        task.cancel()
    return observed[0]


# --- Channels, events and locks, continued -----------------------------------------------------


async def end_of_stream() -> dict[str, str]:
    queue = asyncio.Queue[int]()
    if not hasattr(queue, "shutdown"):
        return {"shutdown": "no Queue.shutdown (Python 3.13+)"}
    observed: dict[str, str] = {}
    queue.shutdown()
    for name, operation in (("receive", queue.get()), ("send", queue.put(1))):
        try:
            await operation
        except asyncio.QueueShutDown as exc:  # type: ignore[attr-defined]  # new in Python 3.13
            observed[name] = type(exc).__name__
    return observed


async def reset_event() -> str:
    event = asyncio.Event()
    event.set()
    event.clear()
    return "cleared" if not event.is_set() else "still set"


async def reacquire_own_lock() -> str:
    lock = asyncio.Lock()
    async with lock:
        try:
            async with asyncio.timeout(0):
                await lock.acquire()
        except TimeoutError:
            return "waits for itself"
        except RuntimeError:
            return "RuntimeError"
    return "acquired twice"
