"""Locks, a bounded section, fairness and a start gate in raw asyncio.

Contract and docstrings: :class:`shared.locks.Locks`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any

from shared.locks import (
    Accounts,
    BoundedReport,
    FairReport,
    GateReport,
    Occupancy,
    Transfer,
    TransferReport,
    check_bounded_args,
    check_gated_args,
    check_transfer_args,
)
from shared.validation import require_int

__all__ = ["run_transfers", "run_bounded", "run_fair", "run_gated"]


# --- Transfers -----------------------------------------------------------------------------


async def _move(accounts: Accounts, transfer: Transfer) -> None:
    seen = accounts.read(transfer)
    # The gap the locks exist for, standing in for a real transfer's I/O: every other ready
    # transfer runs here, and without the locks it may read the balances we just read.
    await asyncio.sleep(0)
    accounts.write(transfer, seen)


async def _locked_move(accounts: Accounts, locks: Sequence[asyncio.Lock], transfer: Transfer) -> None:
    # Lower account first: A->B and B->A both queue on min(A, B), so neither can hold one
    # lock while waiting for the other's. A transfer to itself takes its one lock once:
    # asyncio.Lock is not reentrant, and a second acquire would wait for itself for ever.
    first, second = sorted((transfer.src, transfer.dst))
    second_lock: AbstractAsyncContextManager[object] = locks[second] if second != first else nullcontext()
    async with locks[first], second_lock:
        await _move(accounts, transfer)


# --- The bounded section -------------------------------------------------------------------


async def _job(
    job: int, section: asyncio.BoundedSemaphore, occupancy: Occupancy, full: asyncio.Event, hold: float
) -> None:
    async with section:
        if occupancy.enter(job):
            full.set()
        await full.wait()
        await asyncio.sleep(hold)
        occupancy.leave()


# --- Only in asyncio: TaskGroup has no start(), so an Event stands in for task_status ------


async def _start(tasks: asyncio.TaskGroup, fn: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
    """Run ``fn(*args, started=event)`` in ``tasks``; return once it sets ``event``.

    What ``nursery.start`` does in trio: the caller goes on only once the task says it is ready.
    """
    started = asyncio.Event()
    tasks.create_task(fn(*args, started=started))
    await started.wait()


# --- Fairness ------------------------------------------------------------------------------


async def _wait_in_line(
    waiter: int, lock: asyncio.Lock, arrived: list[int], acquired: list[int], *, started: asyncio.Event
) -> None:
    arrived.append(waiter)
    started.set()
    # Nothing is awaited between started.set() and joining the lock's queue (acquire enqueues
    # before it first suspends), so this waiter is in line before the starter runs again.
    async with lock:
        acquired.append(waiter)
        await asyncio.sleep(0)


# --- The start gate ------------------------------------------------------------------------


async def _worker(worker: int, gate: asyncio.Event, log: list[str], *, started: asyncio.Event) -> None:
    log.append(f"waiting {worker}")
    started.set()
    await gate.wait()
    log.append(f"started {worker}")


# --- Public API ----------------------------------------------------------------------------


async def run_transfers(
    balances: Sequence[int], transfers: Iterable[Transfer], *, locked: bool = True
) -> TransferReport:
    """Contract: :meth:`shared.locks.Locks.run_transfers`."""
    balance_list, transfer_list, locked = check_transfer_args(balances, transfers, locked)
    accounts = Accounts(balance_list)
    # An uncontended asyncio.Lock.acquire returns without yielding (trio's and anyio's always
    # checkpoint): cheaper, but a pending cancel only lands at the next real await.
    locks = [asyncio.Lock() for _ in balance_list]
    async with asyncio.TaskGroup() as tasks:
        for transfer in transfer_list:
            if locked:
                tasks.create_task(_locked_move(accounts, locks, transfer))
            else:
                tasks.create_task(_move(accounts, transfer))
    return accounts.report()


async def run_bounded(jobs: int, *, capacity: int, hold: float) -> BoundedReport:
    """Contract: :meth:`shared.locks.Locks.run_bounded`."""
    jobs, capacity, hold = check_bounded_args(jobs, capacity, hold)
    # asyncio has no CapacityLimiter. BoundedSemaphore rather than Semaphore: released once
    # too often, it raises ValueError where a Semaphore would silently raise the limit.
    section = asyncio.BoundedSemaphore(capacity)
    occupancy = Occupancy(capacity, jobs)
    full = asyncio.Event()
    async with asyncio.TaskGroup() as tasks:
        for job in range(jobs):
            tasks.create_task(_job(job, section, occupancy, full, hold))
    return occupancy.report()


async def run_fair(waiters: int) -> FairReport:
    """Contract: :meth:`shared.locks.Locks.run_fair`."""
    count = require_int("waiters", waiters, minimum=1)
    lock = asyncio.Lock()
    arrived: list[int] = []
    acquired: list[int] = []
    async with asyncio.TaskGroup() as tasks:
        arrived.append(0)
        async with lock:
            acquired.append(0)
            for waiter in range(1, count):
                await _start(tasks, _wait_in_line, waiter, lock, arrived, acquired)
        # Straight back in line, with no await in between: release() woke waiter 1 but left
        # it queued, so this acquire queues behind everyone instead of barging in.
        arrived.append(0)
        async with lock:
            acquired.append(0)
    return FairReport(tuple(arrived), tuple(acquired))


async def run_gated(workers: int, *, late: int = 0) -> GateReport:
    """Contract: :meth:`shared.locks.Locks.run_gated`."""
    workers, late = check_gated_args(workers, late)
    # Unlike trio's and anyio's, an asyncio.Event can be cleared; this gate never is.
    gate = asyncio.Event()
    log: list[str] = []
    async with asyncio.TaskGroup() as tasks:
        for worker in range(workers):
            await _start(tasks, _worker, worker, gate, log)
        log.append("opened")
        gate.set()
        for worker in range(workers, workers + late):
            await _start(tasks, _worker, worker, gate, log)
    return GateReport(tuple(log))
