"""Contract: locks, a bounded section, fairness and a start gate.

:class:`Locks` is the specification; ``impl_*/locks.py`` implement it with each library's
own primitives. The four calls each show one synchronisation idea:

- :meth:`Locks.run_transfers` -- one ``Lock`` per account, taken in ascending account order,
  keeps concurrent transfers from losing updates and from deadlocking; ``locked=False``
  runs the same code without the locks and shows the updates it loses.
- :meth:`Locks.run_bounded` -- a section that at most ``capacity`` tasks may occupy:
  ``asyncio.BoundedSemaphore``, ``trio.CapacityLimiter``, ``anyio.CapacityLimiter``.
- :meth:`Locks.run_fair` -- all three ``Lock`` types hand the lock over in arrival order.
- :meth:`Locks.run_gated` -- workers block on an ``Event`` until it is set.

Everything here is data: the balances, the occupancy counter and the reports are plain
Python, shared so the three implementations record the same things the same way. The
locking, waiting and scheduling live in the implementations.

Why a checkpoint sits between reading and writing
-------------------------------------------------
A transfer reads both balances, yields to the scheduler once, then writes. The yield
stands in for the I/O a real transfer does between the two (a database round trip), and
it is what makes the race real on every flavour: every other ready transfer runs during
it. Without the locks, transfers that read the same balance each write their own result
over the others'; with them, nobody else can touch the two accounts until the writes are
done. The total alone can hide the damage (a lost debit and a lost credit cancel out), so
the report compares every balance with what the applied transfers add up to.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from shared.validation import require_int, require_seconds

__all__ = ["BoundedReport", "FairReport", "GateReport", "Locks", "Transfer", "TransferReport"]
"""The contract: what a caller of the workload may use."""
SUPPORT: tuple[str, ...] = (
    "Accounts",
    "Occupancy",
    "Seen",
    "check_bounded_args",
    "check_gated_args",
    "check_transfer_args",
)
"""Support code for the implementations, not contract: argument checks and bookkeeping
that the three packages share so that they record the same things the same way."""


# --- Transfers -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transfer:
    """Move ``amount`` from account ``src`` to account ``dst`` (indices into the balances).

    Raises:
      TypeError: a field is not an int (bools are refused too).
      ValueError: ``src`` or ``dst`` < 0, ``amount`` < 1.
    """

    src: int
    dst: int
    amount: int

    def __post_init__(self) -> None:
        require_int("src", self.src, minimum=0)
        require_int("dst", self.dst, minimum=0)
        require_int("amount", self.amount, minimum=1)


@dataclass(frozen=True, slots=True)
class TransferReport:
    """What a batch of transfers did to the accounts."""

    balances: tuple[int, ...]
    """The final balance of every account."""
    expected: tuple[int, ...]
    """The starting balances plus the effect of every applied transfer: what the accounts
    should hold. Without the locks a stale read can approve a transfer the balance could not
    cover, so an entry may even be negative."""
    applied: int
    """Transfers carried out (a transfer from an account to itself counts)."""
    declined: int
    """Transfers refused because the source balance, as read, was below ``amount``."""
    lost_updates: int
    """Balance writes that were overwritten by a write computed from a balance read before
    them, so that their change is gone. Each lost write counts once."""

    @property
    def total(self) -> int:
        """The sum of the final balances."""
        return sum(self.balances)

    @property
    def lost_amount(self) -> int:
        """How far the accounts are from ``expected``, summed over accounts (0 when no
        update was lost)."""
        return sum(abs(balance - want) for balance, want in zip(self.balances, self.expected, strict=True))


@dataclass(frozen=True, slots=True)
class Seen:
    """What one transfer read: both balances, and the account versions they came from."""

    src_balance: int
    src_version: int
    dst_balance: int
    dst_version: int


class Accounts:
    """Account balances that notice lost updates. It does no locking: that is the caller's job.

    Every write bumps its account's version; a write based on an older version than the
    account's current one overwrites the writes in between, and those count as lost.
    """

    def __init__(self, balances: Sequence[int]) -> None:
        self._balances = list(balances)
        self._versions = [0] * len(self._balances)
        self._expected = list(balances)
        self._lost: set[tuple[int, int]] = set()
        self._applied = 0
        self._declined = 0

    def read(self, transfer: Transfer) -> Seen:
        """Read both accounts of ``transfer``."""
        src, dst = transfer.src, transfer.dst
        return Seen(self._balances[src], self._versions[src], self._balances[dst], self._versions[dst])

    def write(self, transfer: Transfer, seen: Seen) -> None:
        """Carry out ``transfer`` as decided from ``seen``: decline it if ``seen`` could not
        cover it, else write both new balances (none when ``src == dst``)."""
        if seen.src_balance < transfer.amount:
            self._declined += 1
            return
        self._applied += 1
        self._expected[transfer.src] -= transfer.amount
        self._expected[transfer.dst] += transfer.amount
        if transfer.src != transfer.dst:
            self._store(transfer.src, seen.src_balance - transfer.amount, seen.src_version)
            self._store(transfer.dst, seen.dst_balance + transfer.amount, seen.dst_version)

    def _store(self, account: int, balance: int, seen_version: int) -> None:
        current = self._versions[account]
        self._lost.update((account, version) for version in range(seen_version + 1, current + 1))
        self._balances[account] = balance
        self._versions[account] = current + 1

    def report(self) -> TransferReport:
        return TransferReport(
            tuple(self._balances), tuple(self._expected), self._applied, self._declined, len(self._lost)
        )


def check_transfer_args(
    balances: Sequence[int], transfers: Iterable[Transfer], locked: object
) -> tuple[list[int], list[Transfer], bool]:
    """Validate the arguments of :meth:`Locks.run_transfers`; return them as lists and a bool."""
    if not isinstance(balances, Sequence) or isinstance(balances, str | bytes):
        raise TypeError(f"`balances` must be a sequence of ints, got {balances!r}")
    balance_list = [require_int(f"balances[{index}]", value, minimum=0) for index, value in enumerate(balances)]
    if not isinstance(transfers, Iterable) or isinstance(transfers, str | bytes):
        raise TypeError(f"`transfers` must be an iterable of Transfer, got {transfers!r}")
    transfer_list = list(transfers)
    for index, transfer in enumerate(transfer_list):
        if not isinstance(transfer, Transfer):
            raise TypeError(f"`transfers[{index}]` must be a Transfer, got {transfer!r}")
        for field in ("src", "dst"):
            account = getattr(transfer, field)
            if account >= len(balance_list):
                raise ValueError(
                    f"`transfers[{index}].{field}` must be < {len(balance_list)}, the number of accounts, got {account}"
                )
    if not isinstance(locked, bool):
        raise TypeError(f"`locked` must be a bool, got {locked!r}")
    return balance_list, transfer_list, locked


# --- The bounded section -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BoundedReport:
    """Who entered the bounded section, in what order, and how full it was."""

    capacity: int
    entered: tuple[int, ...]
    """Job numbers in the order the jobs entered."""
    occupancy: tuple[int, ...]
    """How many jobs were inside right after each entry, in the same order."""

    @property
    def peak(self) -> int:
        """The most jobs inside at once (0 with no jobs)."""
        return max(self.occupancy, default=0)


class Occupancy:
    """Counts the jobs inside the section; it does no limiting itself."""

    def __init__(self, capacity: int, jobs: int) -> None:
        self._capacity = capacity
        self._full_at = min(capacity, jobs)
        self._inside = 0
        self._entered: list[int] = []
        self._occupancy: list[int] = []

    def enter(self, job: int) -> bool:
        """Record that ``job`` is inside; return whether the section is now full."""
        self._inside += 1
        self._entered.append(job)
        self._occupancy.append(self._inside)
        return self._inside >= self._full_at

    def leave(self) -> None:
        self._inside -= 1

    def report(self) -> BoundedReport:
        return BoundedReport(self._capacity, tuple(self._entered), tuple(self._occupancy))


def check_bounded_args(jobs: object, capacity: object, hold: object) -> tuple[int, int, float]:
    """Validate the arguments of :meth:`Locks.run_bounded`; return them as int, int, seconds."""
    checked_jobs = require_int("jobs", jobs, minimum=0)
    checked_capacity = require_int("capacity", capacity, minimum=1)
    return checked_jobs, checked_capacity, require_seconds("hold", hold, finite=True)


# --- Fairness and the start gate -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FairReport:
    """The order in which waiters asked for the lock, and the order in which they got it."""

    arrived: tuple[int, ...]
    acquired: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class GateReport:
    """What happened at the gate, in order."""

    log: tuple[str, ...]
    """``"waiting <n>"`` when worker n reaches the gate, ``"opened"`` when the gate opens,
    ``"started <n>"`` when worker n gets through."""


def check_gated_args(workers: object, late: object) -> tuple[int, int]:
    """Validate the arguments of :meth:`Locks.run_gated`."""
    return require_int("workers", workers, minimum=0), require_int("late", late, minimum=0)


# --- The contract --------------------------------------------------------------------------


class Locks(Protocol):
    """What ``impl_asyncio.locks``, ``impl_trio.locks`` and ``impl_anyio.locks`` provide."""

    async def run_transfers(
        self, balances: Sequence[int], transfers: Iterable[Transfer], *, locked: bool = True
    ) -> TransferReport:
        """Run every transfer in its own task, all at once, and report the accounts.

        [locks.transfers] ``balances[i]`` is account ``i``'s starting balance. Each transfer
        reads both of its balances, yields to the scheduler once, then writes both: the source
        loses ``amount``, the destination gains it. A transfer whose source, as read, holds less
        than ``amount`` is declined and writes nothing.

        - [locks.transfers.locked] ``locked=True``: each account has its own lock, and a
          transfer holds the locks of both its accounts from before its read until after its
          write. It takes them in ascending account order, so transfers A->B and B->A running
          together both queue on the lower account first instead of each holding one lock and
          waiting for the other: nothing deadlocks. Then ``balances == expected``,
          ``lost_updates == 0``, the total is the starting total, and no balance goes below 0.
        - [locks.transfers.unlocked] ``locked=False``: the same code without the locks.
          Transfers that share an account and overlap in time read the same balance and
          overwrite each other's writes: with two or more such transfers, ``lost_updates > 0``,
          and ``balances != expected`` unless the lost changes happen to cancel out (a lost
          debit of 5 and a lost credit of 5 to one account leave its balance as expected).
        - [locks.transfers.self] A transfer from an account to itself takes that account's lock
          once (a second ``acquire`` of the same lock would hang on asyncio and raise on trio
          and anyio), is declined if the balance is below ``amount``, and otherwise counts as
          applied and leaves the balance as it is.
        - [locks.transfers.empty] No transfers return the starting balances.

        Raises: [locks.transfers.args]
          TypeError: ``balances`` not a sequence of ints, ``transfers`` not an iterable of
            :class:`Transfer`, ``locked`` not a bool.
          ValueError: a balance < 0; a transfer naming an account that does not exist.
        """
        ...

    async def run_bounded(self, jobs: int, *, capacity: int, hold: float) -> BoundedReport:
        """Run ``jobs`` tasks, all at once, through a section at most ``capacity`` may occupy.

        A job enters the section (waiting at the door while it is full), stays ``hold``
        seconds, and leaves. So that the report proves the limit is *reached* and not just
        respected, a job inside first waits until the section has been full once --
        ``min(jobs, capacity)`` jobs inside together -- before its ``hold`` starts; later
        jobs find it has been full and start at once. The section always fills, since the
        first ``min(jobs, capacity)`` jobs get in without anybody leaving.

        - [locks.bounded.peak] ``report.peak == min(jobs, capacity)``, and no entry in
          ``report.occupancy`` exceeds ``capacity``.
        - [locks.bounded.once] Every job enters exactly once (``sorted(report.entered) ==
          list(range(jobs))``). The order in which they enter is not specified (trio starts
          tasks in random order).
        - [locks.bounded.duration] The call takes about ``ceil(jobs / capacity) * hold``
          seconds.
        - [locks.bounded.cancel] Cancelling the call cancels every job, inside the section or
          waiting at the door, waits for them, and propagates as cancellation.

        Raises: [locks.bounded.args]
          TypeError: ``jobs`` or ``capacity`` not an int, ``hold`` not a number.
          ValueError: ``jobs`` < 0, ``capacity`` < 1, ``hold`` < 0, NaN or infinite.
        """
        ...

    async def run_fair(self, waiters: int) -> FairReport:
        """Line ``waiters`` tasks up for one lock, one by one, and report who got it when.

        Waiter 0 takes the lock. While it holds it, waiters 1, 2, ... ``waiters - 1`` each
        start and ask for the lock, one at a time: waiter ``n + 1`` starts only once waiter
        ``n`` is queued in ``acquire``, so the arrival order is well defined on every
        flavour even though trio starts ready tasks in random order. Each waiter holds the
        lock across one checkpoint. Waiter 0 then releases the lock and at once asks for
        it again, which puts it at the back of the line: a released lock is handed to the
        first waiter, never grabbed back by the task that released it.

        - [locks.fair.arrived] ``report.arrived == (0, 1, ..., waiters - 1, 0)``.
        - [locks.fair.fifo] ``report.acquired == report.arrived``: all three libraries' locks
          are FIFO-fair.

        Raises: [locks.fair.args]
          TypeError: ``waiters`` not an int.
          ValueError: ``waiters`` < 1.
        """
        ...

    async def run_gated(self, workers: int, *, late: int = 0) -> GateReport:
        """Hold ``workers`` tasks at a start gate (an ``Event``), then let them all through.

        Workers 0 .. ``workers - 1`` start one at a time; each logs ``"waiting <n>"`` and
        blocks on the gate. Once all of them are waiting the gate opens (``"opened"``) and
        each logs ``"started <n>"`` as it gets through. Then ``late`` more workers
        (numbered on from ``workers``) arrive at the open gate and pass straight through:
        an event stays set.

        - [locks.gated.log] The log holds each ``"waiting <n>"`` and ``"started <n>"`` exactly
          once and ``"opened"`` once.
        - [locks.gated.before] Every entry before ``"opened"`` is ``"waiting <n>"`` for n <
          ``workers``, in order of n; no worker starts before the gate opens.
        - The order of the ``"started"`` entries is not specified (trio wakes waiters in
          random order).

        Raises: [locks.gated.args]
          TypeError: ``workers`` or ``late`` not an int.
          ValueError: ``workers`` or ``late`` < 0.
        """
        ...
