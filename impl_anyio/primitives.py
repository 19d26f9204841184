"""The benchmark primitives in AnyIO.

Contract and docstrings: :class:`shared.primitives.Primitives`.
"""

from __future__ import annotations

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from shared.primitives import HANDOFF_BUFFER, HANDOFF_CONSUMERS

__all__ = ["spawn_join", "checkpoints", "handoff", "lock_handoff", "timeout_scope", "cancel_waiting"]


# --- Helpers -------------------------------------------------------------------------------


async def _nothing() -> None:
    pass


async def _consume(receive: MemoryObjectReceiveStream[int]) -> None:
    with receive:
        async for _item in receive:
            pass


async def _take_lock(lock: anyio.Lock, rounds: int) -> None:
    for _ in range(rounds):
        async with lock:
            await anyio.lowlevel.checkpoint()


async def _wait_forever(started: list[int], n: int, all_started: anyio.Event) -> None:
    started[0] += 1
    if started[0] == n:
        all_started.set()
    await anyio.sleep_forever()


# --- Public API ----------------------------------------------------------------------------


async def spawn_join(n: int) -> None:
    """Contract: :meth:`shared.primitives.Primitives.spawn_join`."""
    async with anyio.create_task_group() as tasks:
        for _ in range(n):
            tasks.start_soon(_nothing)


async def checkpoints(n: int) -> None:
    """Contract: :meth:`shared.primitives.Primitives.checkpoints`."""
    for _ in range(n):
        await anyio.lowlevel.checkpoint()


async def handoff(n: int, *, checkpoint: bool) -> None:
    """Contract: :meth:`shared.primitives.Primitives.handoff`."""
    # `checkpoint` changes nothing here: every send and receive is a checkpoint already.
    send, receive = anyio.create_memory_object_stream[int](HANDOFF_BUFFER)
    async with anyio.create_task_group() as tasks:
        with receive:
            for _ in range(HANDOFF_CONSUMERS):
                tasks.start_soon(_consume, receive.clone())
        # Closing the last send end ends every consumer's `async for`; a sync `with`, as in
        # the pipeline: an `async with` would add a checkpoint on the way out.
        with send:
            for item in range(n):
                await send.send(item)


async def lock_handoff(tasks: int, rounds: int) -> None:
    """Contract: :meth:`shared.primitives.Primitives.lock_handoff`."""
    lock = anyio.Lock()
    async with anyio.create_task_group() as group:
        for _ in range(tasks):
            group.start_soon(_take_lock, lock, rounds)


async def timeout_scope(n: int) -> None:
    """Contract: :meth:`shared.primitives.Primitives.timeout_scope`."""
    for _ in range(n):
        # Only the scope's own cost: a checkpoint inside would be measured twice.
        with anyio.fail_after(60):  # noqa: ASYNC100
            pass


async def cancel_waiting(n: int) -> None:
    """Contract: :meth:`shared.primitives.Primitives.cancel_waiting`."""
    started, all_started = [0], anyio.Event()
    async with anyio.create_task_group() as group:
        for _ in range(n):
            group.start_soon(_wait_forever, started, n, all_started)
        await all_started.wait()
        group.cancel_scope.cancel()
