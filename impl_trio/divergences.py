"""The divergence catalogue's probes in raw Trio: each the shortest program that shows one entry.

Entries (what differs, what it means for you, sources): :data:`shared.divergences.ENTRIES`.
Each probe returns a small observation; the suite pins it per flavour and per Python.
"""

from __future__ import annotations

import contextvars
import signal
import threading
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing, suppress

import trio
import trio.lowlevel
import trio.testing

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
    with trio.move_on_after(0):
        try:
            await trio.sleep(3600)
        finally:
            await trio.lowlevel.checkpoint()
            return "completes"  # noqa: B012
    return "cancelled again"


async def swallowed_cancellation() -> str:
    with trio.move_on_after(0):
        with suppress(trio.Cancelled):
            await trio.sleep(3600)
        await trio.lowlevel.checkpoint()
        return "runs on"
    return "cancelled again"


async def cancelled_before_first_step() -> str:
    steps: list[str] = []

    async def child() -> None:
        steps.append("ran to its first await")
        await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as group:
        group.start_soon(child)
        group.cancel_scope.cancel()
    return steps[0] if steps else "never ran"


async def value_ready_at_cancel() -> str:
    received: list[str] = []
    send, receive = trio.open_memory_channel[str](0)  # Trio's way to hand one value over

    async def receiver() -> None:
        received.append(await receive.receive())

    async with trio.open_nursery() as group:
        group.start_soon(receiver)
        await trio.testing.wait_all_tasks_blocked()  # Trio's order is random: wait, not sleep(0)
        send.send_nowait("value")
        group.cancel_scope.cancel()
    return "kept" if received else "lost"


async def shielded_cleanup() -> list[str]:
    steps: list[str] = []

    async def clean_up() -> None:
        await trio.lowlevel.checkpoint()
        steps.append("cleanup finished")

    with trio.move_on_after(0):
        with trio.CancelScope(shield=True):
            await clean_up()
    steps.append("caller resumed")
    return steps


# --- Task groups -------------------------------------------------------------------------------


async def one_failing_child() -> str:
    try:
        async with trio.open_nursery() as group:
            group.start_soon(_fail)
    except BaseExceptionGroup as exc:
        return _describe(exc)
    return "no error"


async def failing_body() -> list[str]:
    steps: list[str] = []

    async def child() -> None:
        try:
            await trio.sleep(3600)
        except trio.Cancelled:
            steps.append("child cancelled")
            raise

    try:
        async with trio.open_nursery() as group:
            group.start_soon(child)
            await trio.testing.wait_all_tasks_blocked()
            raise ValueError("body failed")
    except BaseExceptionGroup as exc:
        steps.append(_describe(exc))
    return steps


async def spawn_into_failing_group() -> list[str]:
    steps: list[str] = []

    async def late() -> None:
        steps.append("late child started")
        await trio.sleep(3600)

    with suppress(BaseExceptionGroup):
        async with trio.open_nursery() as group:
            group.start_soon(_fail)
            try:
                await trio.sleep(3600)
            finally:
                group.start_soon(late)
    return steps


async def cancel_the_group() -> list[str]:
    steps: list[str] = []
    async with trio.open_nursery() as group:
        group.start_soon(trio.sleep, 3600)
        group.cancel_scope.cancel()
        steps.append("body ran on")
        await trio.lowlevel.checkpoint()
        steps.append("body passed an await")
    steps.append("left quietly")
    return steps


async def outer_timeout_and_failing_child() -> str:
    try:
        with trio.fail_after(0):
            async with trio.open_nursery() as group:
                group.start_soon(_fail)
                await trio.sleep(3600)
    except BaseExceptionGroup as exc:
        return _describe(exc)
    except trio.TooSlowError:
        return "TooSlowError"
    return "no error"


# --- Scheduling and checkpoints ----------------------------------------------------------------


async def checkpoints_when_ready() -> dict[str, str]:
    observed: dict[str, str] = {}
    lock, (send, receive) = trio.Lock(), trio.open_memory_channel[int](1)
    send.send_nowait(1)
    for name, operation in (("Lock.acquire", lock.acquire), ("receive", receive.receive)):
        with trio.CancelScope() as scope:
            scope.cancel()
            await operation()
            observed[name] = "no checkpoint"
            await trio.lowlevel.checkpoint()  # the pending cancel lands here instead
        observed.setdefault(name, "checkpoint")
    return observed


async def ready_task_order() -> list[str]:
    orders: set[str] = set()
    for _ in range(64):  # Trio reverses half of its batches: 64 rounds all alike is a 2**-63 chance
        order: list[str] = []
        async with trio.open_nursery() as group:
            for name in "ab":
                group.start_soon(_note, order, name)
        orders.add("".join(order))
    return sorted(orders)


async def spawn_runs_first_step() -> list[str]:
    steps: list[str] = []
    async with trio.open_nursery() as group:
        group.start_soon(_note, steps, "child's first step")
        steps.append("start_soon returned")
    return steps


# --- Timeouts ----------------------------------------------------------------------------------


async def timeout_error_type() -> str:
    try:
        with trio.fail_after(0):
            await trio.sleep(3600)
    except Exception as exc:
        return f"{type(exc).__name__}, {'a' if isinstance(exc, TimeoutError) else 'not a'} TimeoutError"
    return "no error"


# --- Queues and channels -----------------------------------------------------------------------


async def default_buffer() -> str:
    try:
        trio.open_memory_channel()  # type: ignore[call-arg]
    except TypeError:
        return "no default: a size is required"
    return "has a default"


async def producers_closing() -> list[str]:
    steps: list[str] = []
    send_a, receive = trio.open_memory_channel[str](10)
    send_b = send_a.clone()  # one send end per producer
    with send_a:
        send_a.send_nowait("from a")  # producer a is done; producer b is not
    with send_b:
        send_b.send_nowait("from b")
    with receive:
        async for item in receive:
            steps.append(item)
    return steps


# --- Synchronization ---------------------------------------------------------------------------


async def release_from_another_task() -> str:
    lock = trio.Lock()
    await lock.acquire()

    async def release() -> None:
        lock.release()

    try:
        async with trio.open_nursery() as group:
            group.start_soon(release)
    except BaseExceptionGroup as exc:
        return type(exc.exceptions[0]).__name__
    return "released"


async def over_release() -> dict[str, str]:
    observed: dict[str, str] = {}
    for name, semaphore in (("plain", trio.Semaphore(1)), ("bounded", trio.Semaphore(1, max_value=1))):
        try:
            semaphore.release()
            observed[name] = f"value {semaphore.value}"
        except ValueError:
            observed[name] = "ValueError"
    return observed


async def lock_handover() -> list[str]:
    order: list[str] = []
    lock = trio.Lock()

    async def waiter() -> None:
        async with lock:
            order.append("waiter")

    async with trio.open_nursery() as group:
        async with lock:
            group.start_soon(waiter)
            await trio.testing.wait_all_tasks_blocked()  # the waiter is now queued on the lock
        async with lock:  # released and at once wanted again
            order.append("releaser")
    return order


# --- Threads -----------------------------------------------------------------------------------


async def cancel_during_thread_call() -> str:
    finished = threading.Event()

    def work() -> None:
        time.sleep(0.2)
        finished.set()

    with trio.move_on_after(0.05):  # once the thread has started
        await trio.to_thread.run_sync(work)
    return "caller waited for the thread" if finished.is_set() else "caller resumed, thread runs on"


async def context_in_worker_thread() -> dict[str, str]:
    CVAR.set("copied")
    return {"to_thread.run_sync": await trio.to_thread.run_sync(CVAR.get)}


async def default_thread_limit() -> int:
    return int(trio.to_thread.current_default_thread_limiter().total_tokens)


# --- Generators, signals, scopes and the clock -------------------------------------------------


async def yield_inside_timeout() -> str:
    async def ticks() -> AsyncGenerator[int, None]:
        with trio.move_on_after(0):
            yield 1
            await trio.sleep(3600)

    try:
        async with aclosing(ticks()) as stream:
            async for _ in stream:
                await trio.lowlevel.checkpoint()  # the consumer's own await
        return "no error"
    except BaseException as exc:
        return f"{type(exc).__name__} in the consumer"


async def ctrl_c() -> str:
    try:
        signal.raise_signal(signal.SIGINT)
        await trio.sleep(3600)
    except (trio.Cancelled, KeyboardInterrupt) as exc:
        return f"{type(exc).__name__} in the main task"
    return "nothing"


async def group_cancelled_before_started() -> str:
    async def service(*, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        await trio.lowlevel.checkpoint()
        task_status.started("started")
        await trio.sleep(3600)

    async with trio.open_nursery() as group:
        group.cancel_scope.cancel()
        with trio.CancelScope(shield=True):  # the caller of start() is not cancelled itself
            try:
                outcome: str = await group.start(service)
            except Exception as exc:
                outcome = type(exc).__name__
    return outcome


async def reuse_cancel_scope() -> str:
    scope = trio.CancelScope()
    with scope:
        pass
    try:
        with scope:
            pass
    except RuntimeError:
        return "RuntimeError"
    return "reused"


async def clock_origin() -> str:
    offset = trio.current_time() - time.monotonic()
    return "time.monotonic()" if abs(offset) < 1 else "offset from time.monotonic()"


# --- What asyncio's tutorials teach ------------------------------------------------------------


async def first_error_among_siblings() -> str:
    steps: list[str] = []

    async def sibling() -> None:
        try:
            await trio.sleep(3600)
        except trio.Cancelled:
            steps.append("sibling cancelled")
            raise

    with suppress(BaseExceptionGroup):
        async with trio.open_nursery() as group:
            group.start_soon(_fail)
            group.start_soon(sibling)
    return steps[0] if steps else "sibling runs on"


async def wait_for_task() -> str:
    async def inner() -> trio.lowlevel.Task:
        return trio.lowlevel.current_task()

    with trio.fail_after(3600):
        task = await inner()
    return "same task" if task is trio.lowlevel.current_task() else "new task"


async def stop_reading_early() -> list[str]:
    steps: list[str] = []
    send, receive = trio.open_memory_channel[str](0)

    async def rest() -> None:
        try:
            await trio.sleep(3600)
        except trio.Cancelled:
            steps.append("rest cancelled")
            raise

    async with trio.open_nursery() as group:
        group.start_soon(send.send, "first")
        group.start_soon(rest)
        steps.append(await receive.receive())
        group.cancel_scope.cancel()  # stop reading: the producers go too
    return steps


async def cancel_condition_wait() -> str:
    condition = trio.Condition()
    observed: list[str] = []

    async def waiter() -> None:
        async with condition:
            try:
                await condition.wait()
            except trio.Cancelled:
                observed.append("holds the lock" if condition.locked() else "without the lock")
                raise

    async with trio.open_nursery() as group:
        group.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        group.cancel_scope.cancel()
    return observed[0]


# --- Channels, events and locks, continued -----------------------------------------------------


async def end_of_stream() -> dict[str, str]:
    observed: dict[str, str] = {}
    send, receive = trio.open_memory_channel[int](1)
    send.close()
    with suppress(trio.EndOfChannel):
        await receive.receive()
        observed["receive"] = "no error"
    observed.setdefault("receive", "EndOfChannel")
    send, receive = trio.open_memory_channel[int](1)
    receive.close()
    try:
        await send.send(1)
    except trio.BrokenResourceError as exc:
        observed["send"] = type(exc).__name__
    return observed


async def reset_event() -> str:
    event = trio.Event()
    event.set()
    if not hasattr(event, "clear"):
        return "no clear(): make a new Event"
    event.clear()
    return "cleared" if not event.is_set() else "still set"


async def reacquire_own_lock() -> str:
    lock = trio.Lock()
    async with lock:
        try:
            with trio.fail_after(1):  # Trio checks the deadline before the lock: give it a moment
                await lock.acquire()
        except trio.TooSlowError:
            return "waits for itself"
        except RuntimeError:
            return "RuntimeError"
    return "acquired twice"
