"""The benchmark primitives in raw asyncio.

Contract and docstrings: :class:`shared.primitives.Primitives`.
"""

from __future__ import annotations

import asyncio
import enum

from shared.primitives import HANDOFF_BUFFER, HANDOFF_CONSUMERS

__all__ = ["spawn_join", "checkpoints", "handoff", "lock_handoff", "timeout_scope", "cancel_waiting"]


# --- Only in asyncio: the end of the input is a sentinel, as Queue.shutdown() needs Python 3.13 ---


class _Done(enum.Enum):
    """Put once per consumer behind the last item; a consumer stops at the first it takes."""

    DONE = enum.auto()


# --- Helpers -------------------------------------------------------------------------------


async def _nothing() -> None:
    pass


async def _consume(queue: asyncio.Queue[int | _Done], checkpoint: bool) -> None:
    while await queue.get() is not _Done.DONE:
        if checkpoint:
            await asyncio.sleep(0)


async def _take_lock(lock: asyncio.Lock, rounds: int) -> None:
    for _ in range(rounds):
        async with lock:
            await asyncio.sleep(0)


async def _wait_forever(started: list[int], n: int, all_started: asyncio.Event) -> None:
    started[0] += 1
    if started[0] == n:
        all_started.set()
    await asyncio.Event().wait()


# --- Public API ----------------------------------------------------------------------------


async def spawn_join(n: int) -> None:
    """Contract: :meth:`shared.primitives.Primitives.spawn_join`."""
    async with asyncio.TaskGroup() as tasks:
        for _ in range(n):
            tasks.create_task(_nothing())


async def checkpoints(n: int) -> None:
    """Contract: :meth:`shared.primitives.Primitives.checkpoints`."""
    for _ in range(n):
        await asyncio.sleep(0)


async def handoff(n: int, *, checkpoint: bool) -> None:
    """Contract: :meth:`shared.primitives.Primitives.handoff`."""
    queue: asyncio.Queue[int | _Done] = asyncio.Queue(HANDOFF_BUFFER)
    async with asyncio.TaskGroup() as tasks:
        for _ in range(HANDOFF_CONSUMERS):
            tasks.create_task(_consume(queue, checkpoint))
        for item in range(n):
            await queue.put(item)
            if checkpoint:
                await asyncio.sleep(0)
        # A Queue cannot be closed before 3.13: one sentinel per consumer ends the stream.
        for _ in range(HANDOFF_CONSUMERS):
            await queue.put(_Done.DONE)


async def lock_handoff(tasks: int, rounds: int) -> None:
    """Contract: :meth:`shared.primitives.Primitives.lock_handoff`."""
    lock = asyncio.Lock()
    async with asyncio.TaskGroup() as group:
        for _ in range(tasks):
            group.create_task(_take_lock(lock, rounds))


async def timeout_scope(n: int) -> None:
    """Contract: :meth:`shared.primitives.Primitives.timeout_scope`."""
    for _ in range(n):
        # Only the scope's own cost: a checkpoint inside would be measured twice.
        async with asyncio.timeout(60):  # noqa: ASYNC100
            pass


async def cancel_waiting(n: int) -> None:
    """Contract: :meth:`shared.primitives.Primitives.cancel_waiting`."""
    started, all_started = [0], asyncio.Event()
    async with asyncio.TaskGroup() as group:
        waiters = [group.create_task(_wait_forever(started, n, all_started)) for _ in range(n)]
        await all_started.wait()
        # A TaskGroup has no cancel-all before 3.14's TaskGroup.cancel(): cancel each task.
        for waiter in waiters:
            waiter.cancel()
