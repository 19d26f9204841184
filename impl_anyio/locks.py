"""Locks, a bounded section, fairness and a start gate in AnyIO.

Contract and docstrings: :class:`shared.locks.Locks`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext

import anyio
from anyio.abc import TaskStatus

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
    await anyio.lowlevel.checkpoint()
    accounts.write(transfer, seen)


async def _locked_move(accounts: Accounts, locks: Sequence[anyio.Lock], transfer: Transfer) -> None:
    # Lower account first: A->B and B->A both queue on min(A, B), so neither can hold one
    # lock while waiting for the other's. A transfer to itself takes its one lock once:
    # anyio.Lock is not reentrant, and a second acquire raises RuntimeError.
    first, second = sorted((transfer.src, transfer.dst))
    second_lock: AbstractAsyncContextManager[object] = locks[second] if second != first else nullcontext()
    async with locks[first], second_lock:
        await _move(accounts, transfer)


# --- The bounded section -------------------------------------------------------------------


async def _job(job: int, section: anyio.CapacityLimiter, occupancy: Occupancy, full: anyio.Event, hold: float) -> None:
    async with section:
        if occupancy.enter(job):
            full.set()
        await full.wait()
        await anyio.sleep(hold)
        occupancy.leave()


# --- Fairness ------------------------------------------------------------------------------


async def _wait_in_line(
    waiter: int,
    lock: anyio.Lock,
    arrived: list[int],
    acquired: list[int],
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    arrived.append(waiter)
    task_status.started()
    # Nothing is awaited between started() and joining the lock's queue (acquire enqueues
    # before it first suspends), so this waiter is in line before the starter runs again.
    async with lock:
        acquired.append(waiter)
        await anyio.lowlevel.checkpoint()


# --- The start gate ------------------------------------------------------------------------


async def _worker(
    worker: int,
    gate: anyio.Event,
    log: list[str],
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    log.append(f"waiting {worker}")
    task_status.started()
    await gate.wait()
    log.append(f"started {worker}")


# --- Public API ----------------------------------------------------------------------------


async def run_transfers(
    balances: Sequence[int], transfers: Iterable[Transfer], *, locked: bool = True
) -> TransferReport:
    """Contract: :meth:`shared.locks.Locks.run_transfers`."""
    balance_list, transfer_list, locked = check_transfer_args(balances, transfers, locked)
    accounts = Accounts(balance_list)
    # anyio.Lock.acquire is always a checkpoint, even when the lock is free: a pending cancel
    # lands there, and other tasks get to run. On every backend: only
    # anyio.Lock(fast_acquire=True) would skip it, as raw asyncio does.
    locks = [anyio.Lock() for _ in balance_list]
    async with anyio.create_task_group() as tasks:
        for transfer in transfer_list:
            if locked:
                tasks.start_soon(_locked_move, accounts, locks, transfer)
            else:
                tasks.start_soon(_move, accounts, transfer)
    return accounts.report()


async def run_bounded(jobs: int, *, capacity: int, hold: float) -> BoundedReport:
    """Contract: :meth:`shared.locks.Locks.run_bounded`."""
    jobs, capacity, hold = check_bounded_args(jobs, capacity, hold)
    # CapacityLimiter rather than Semaphore: it is the library's tool for "at most N tasks at once".
    # It knows which task holds each token, so a task can neither take two nor release one
    # it does not hold (RuntimeError); a Semaphore is a bare counter.
    section = anyio.CapacityLimiter(capacity)
    occupancy = Occupancy(capacity, jobs)
    full = anyio.Event()
    async with anyio.create_task_group() as tasks:
        for job in range(jobs):
            tasks.start_soon(_job, job, section, occupancy, full, hold)
    return occupancy.report()


async def run_fair(waiters: int) -> FairReport:
    """Contract: :meth:`shared.locks.Locks.run_fair`."""
    count = require_int("waiters", waiters, minimum=1)
    lock = anyio.Lock()
    arrived: list[int] = []
    acquired: list[int] = []
    async with anyio.create_task_group() as tasks:
        arrived.append(0)
        async with lock:
            acquired.append(0)
            for waiter in range(1, count):
                await tasks.start(_wait_in_line, waiter, lock, arrived, acquired)
        # Straight back in line, with no await in between: release() handed the lock to
        # waiter 1 outright, so this acquire queues behind everyone instead of barging in.
        arrived.append(0)
        async with lock:
            acquired.append(0)
    return FairReport(tuple(arrived), tuple(acquired))


async def run_gated(workers: int, *, late: int = 0) -> GateReport:
    """Contract: :meth:`shared.locks.Locks.run_gated`."""
    workers, late = check_gated_args(workers, late)
    # This Event cannot be cleared: once open, the gate stays open.
    gate = anyio.Event()
    log: list[str] = []
    async with anyio.create_task_group() as tasks:
        for worker in range(workers):
            await tasks.start(_worker, worker, gate, log)
        log.append("opened")
        gate.set()
        for worker in range(workers, workers + late):
            await tasks.start(_worker, worker, gate, log)
    return GateReport(tuple(log))
