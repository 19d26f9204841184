"""Locks behaviour (contract: shared.locks.Locks) on every flavour.

Nothing here is timed. The assertions are about counts and orders that the contract fixes
on every flavour, whatever order trio picks for ready tasks: totals and balances, the
section's occupancy, the order the lock was handed out, the order of the gate's log.
Only the bounded section sleeps (its ``hold``): on a virtual clock where the flavour has
one, for a few tens of milliseconds of real time on uvloop, and no assertion depends on it.
"""

from __future__ import annotations

import functools
import math
import random
import re
from collections.abc import Sequence
from typing import Any

import pytest

from shared.locks import Locks, Transfer
from tests.helpers import Run, assert_durations
from triptych.flavours import Flavour

SEED = 20261107


def _settle(balances: Sequence[int], transfers: Sequence[Transfer]) -> tuple[int, ...]:
    """The balances after ``transfers`` one at a time, for transfers that are all covered."""
    settled = list(balances)
    for transfer in transfers:
        settled[transfer.src] -= transfer.amount
        settled[transfer.dst] += transfer.amount
    return tuple(settled)


def _random_transfers(accounts: int, count: int, max_amount: int) -> list[Transfer]:
    rng = random.Random(SEED)
    return [
        Transfer(rng.randrange(accounts), rng.randrange(accounts), rng.randint(1, max_amount)) for _ in range(count)
    ]


# --- Transfers -----------------------------------------------------------------------------


@pytest.mark.clause("locks.transfers.locked")
def test_locked_transfers_lose_no_update(locks: Locks, run: Run) -> None:
    balances = [50, 0, 120, 7, 300, 0, 42, 90]
    # Small balances and large amounts: many transfers are declined, in an order that
    # differs between runs on trio, so only invariants are asserted.
    transfers = _random_transfers(len(balances), 400, 60)

    report = run(locks.run_transfers, balances, transfers)

    assert report.balances == report.expected
    assert (report.lost_updates, report.lost_amount) == (0, 0)
    assert report.total == sum(balances)
    assert report.applied + report.declined == len(transfers)
    assert min(report.balances) >= 0


@pytest.mark.clause("locks.transfers.unlocked")
def test_unlocked_transfers_lose_updates(locks: Locks, run: Run) -> None:
    transfers = [Transfer(0, 1, 1)] * 20

    unlocked = run(locks.run_transfers, [100, 100], transfers, locked=False)
    locked = run(locks.run_transfers, [100, 100], transfers, locked=True)

    # All transfers start together and each yields once between its read and its write, so
    # every read comes before every write, in any order the scheduler picks: all twenty
    # read (100, 100) and write (99, 101). Each account keeps one write and loses nineteen.
    assert unlocked.expected == locked.expected == (80, 120)
    assert unlocked.applied == locked.applied == 20
    assert unlocked.balances == (99, 101)
    assert (unlocked.lost_updates, unlocked.lost_amount) == (38, 38)
    # The total alone hides it: the lost debits and the lost credits cancel out.
    assert unlocked.total == 200
    assert locked.balances == (80, 120)
    assert (locked.lost_updates, locked.lost_amount) == (0, 0)


@pytest.mark.clause("locks.transfers.locked", "locks.transfers.unlocked")
def test_unlocked_random_transfers_lose_updates_that_locked_ones_keep(locks: Locks, run: Run) -> None:
    balances = [1000] * 6
    transfers = _random_transfers(len(balances), 200, 50)

    unlocked = run(locks.run_transfers, balances, transfers, locked=False)
    locked = run(locks.run_transfers, balances, transfers)

    # Which writes survive depends on trio's ordering, so only the fact of the loss is asserted.
    assert unlocked.lost_updates > 0
    assert unlocked.lost_amount > 0
    assert unlocked.balances != unlocked.expected
    assert locked.balances == locked.expected == _settle(balances, transfers)
    assert locked.lost_updates == 0
    assert locked.total == sum(balances)


@pytest.mark.clause("locks.transfers.locked")
def test_opposing_transfers_do_not_deadlock(locks: Locks, run: Run) -> None:
    balances = [1000] * 4
    # A->B and B->A together, and a ring 0->1->2->3->0 whose every lock is someone's second.
    # Locks taken in transfer order (src first) deadlock here on every flavour: a released
    # lock goes to its first waiter, who may then wait for a lock held by one waiting for
    # it. The virtual clock makes a deadlock fail at once (time jumps to the run's deadline)
    # instead of after a minute; uvloop has none, so there it takes the minute.
    transfers = [Transfer(0, 1, 3), Transfer(1, 0, 2)] * 50 + [Transfer(n, (n + 1) % 4, 1) for n in range(4)] * 25

    report = run.virtual(locks.run_transfers, balances, transfers)

    assert (report.applied, report.declined) == (len(transfers), 0)
    assert report.balances == report.expected == _settle(balances, transfers)
    assert report.lost_updates == 0


@pytest.mark.clause("locks.transfers.self")
def test_a_transfer_to_itself_takes_its_lock_once(locks: Locks, run: Run) -> None:
    # Taking account 0's lock twice would hang on asyncio and raise on trio and anyio.
    transfers = [Transfer(0, 0, 5)] * 10 + [Transfer(0, 1, 5), Transfer(1, 1, 50), Transfer(1, 0, 5)]

    report = run.virtual(locks.run_transfers, [10, 10], transfers)

    # Account 0 holds 5, 10 or 15 whenever a self-transfer reads it: always enough. Account 1
    # never holds 50.
    assert (report.applied, report.declined) == (12, 1)
    assert report.balances == report.expected == (10, 10)
    assert report.lost_updates == 0


@pytest.mark.clause("locks.transfers")
def test_a_transfer_the_balance_cannot_cover_is_declined(locks: Locks, run: Run) -> None:
    transfers = [Transfer(0, 1, 7), Transfer(0, 1, 7)]

    locked = run(locks.run_transfers, [10, 0], transfers)
    unlocked = run(locks.run_transfers, [10, 0], transfers, locked=False)

    assert (locked.applied, locked.declined) == (1, 1)
    assert locked.balances == locked.expected == (3, 7)
    # Without the lock both read 10 before either writes: both are approved, and what the
    # accounts should now hold is an overdraft that the balances never show.
    assert (unlocked.applied, unlocked.declined) == (2, 0)
    assert unlocked.expected == (-4, 14)
    assert unlocked.balances == (3, 7)
    assert unlocked.lost_updates == 2


@pytest.mark.clause("locks.transfers.empty")
def test_no_transfers_leave_the_balances_alone(locks: Locks, run: Run) -> None:
    for locked in (True, False):
        report = run(locks.run_transfers, (5, 0, 6), iter([]), locked=locked)
        assert report.balances == report.expected == (5, 0, 6)
        assert (report.applied, report.declined, report.lost_updates) == (0, 0, 0)
    assert run(locks.run_transfers, [], []).balances == ()


# --- The bounded section -------------------------------------------------------------------


@pytest.mark.parametrize(("jobs", "capacity"), [(12, 3), (7, 1), (3, 5), (1, 1), (0, 2)])
@pytest.mark.clause("locks.bounded.peak", "locks.bounded.once")
def test_the_bounded_section_fills_to_capacity_and_no_further(locks: Locks, run: Run, jobs: int, capacity: int) -> None:
    report = run.virtual(locks.run_bounded, jobs, capacity=capacity, hold=0.01)

    assert report.capacity == capacity
    assert report.peak == min(jobs, capacity)
    assert all(1 <= inside <= capacity for inside in report.occupancy)
    # Nobody leaves before the section has been full, so the first entries count up to it.
    assert report.occupancy[:capacity] == tuple(range(1, min(jobs, capacity) + 1))
    assert len(report.occupancy) == jobs
    assert sorted(report.entered) == list(range(jobs))


@pytest.mark.clause("locks.bounded.peak", "locks.bounded.once")
def test_the_bounded_section_works_without_a_hold(locks: Locks, run: Run) -> None:
    report = run(locks.run_bounded, 20, capacity=4, hold=0)

    assert report.peak == 4
    assert max(report.occupancy) <= 4
    assert sorted(report.entered) == list(range(20))


@pytest.mark.clause("locks.bounded.duration")
def test_the_bounded_section_takes_one_hold_per_round_of_capacity_jobs(
    flavour: Flavour, locks: Locks, run: Run
) -> None:
    # 10 jobs through 4 places: three rounds (4, 4, 2), one hold each.
    hold = 0.25

    async def timed() -> float:
        start = await flavour.current_time()
        await locks.run_bounded(10, capacity=4, hold=hold)
        return await flavour.current_time() - start

    elapsed = run.virtual(timed)

    assert_durations(flavour, [elapsed], [3 * hold])


@pytest.mark.clause("locks.bounded.cancel")
def test_a_cancel_from_outside_stops_every_job(flavour: Flavour, locks: Locks, run: Run) -> None:
    # Jobs that would hold the section for an hour: two inside, four waiting at the door.
    call = functools.partial(locks.run_bounded, 6, capacity=2, hold=3600.0)

    async def scenario() -> bool:
        cancelled: bool = await flavour.cancelled_after(0.05, call)
        return cancelled

    # 50 ms of real time on uvloop. The run fixture fails the test if any job is left alive.
    assert run.virtual(scenario) is True


# --- Fairness ------------------------------------------------------------------------------


@pytest.mark.parametrize("waiters", [1, 2, 10, 60])
@pytest.mark.clause("locks.fair.arrived", "locks.fair.fifo")
def test_the_lock_goes_to_waiters_in_arrival_order(locks: Locks, run: Run, waiters: int) -> None:
    report = run(locks.run_fair, waiters)

    # Waiter 0 holds the lock first, the others line up one by one, and waiter 0, asking
    # again the moment it releases, gets it last: nobody barges in.
    assert report.arrived == (*range(waiters), 0)
    assert report.acquired == report.arrived


# --- The start gate ------------------------------------------------------------------------


@pytest.mark.parametrize(("workers", "late"), [(6, 0), (4, 3), (1, 0), (0, 2), (0, 0)])
@pytest.mark.clause("locks.gated.log", "locks.gated.before")
def test_no_worker_starts_before_the_gate_opens(locks: Locks, run: Run, workers: int, late: int) -> None:
    log = run(locks.run_gated, workers, late=late).log

    assert log.count("opened") == 1
    opened = log.index("opened")
    assert log[:opened] == tuple(f"waiting {n}" for n in range(workers))
    after = log[opened + 1 :]
    everyone = range(workers + late)
    latecomers = range(workers, workers + late)
    # Woken workers run in no specified order; each appears once, latecomers wait then start.
    assert sorted(after) == sorted([f"started {n}" for n in everyone] + [f"waiting {n}" for n in latecomers])
    assert all(after.index(f"waiting {n}") < after.index(f"started {n}") for n in latecomers)


# --- Bad input -----------------------------------------------------------------------------

BAD_INPUT: list[tuple[str, tuple[Any, ...], dict[str, Any], type[Exception], str]] = [
    ("run_transfers", ([10, -1], []), {}, ValueError, "`balances[1]` must be >= 0, got -1"),
    ("run_transfers", ([10, "5"], []), {}, TypeError, "`balances[1]` must be an int, got '5'"),
    ("run_transfers", ([10, 2.5], []), {}, TypeError, "`balances[1]` must be an int, got 2.5"),
    ("run_transfers", ({"a": 1}, []), {}, TypeError, "`balances` must be a sequence of ints, got {'a': 1}"),
    ("run_transfers", ("10", []), {}, TypeError, "`balances` must be a sequence of ints, got '10'"),
    ("run_transfers", ([10, 10], 5), {}, TypeError, "`transfers` must be an iterable of Transfer, got 5"),
    ("run_transfers", ([10, 10], [(0, 1, 5)]), {}, TypeError, "`transfers[0]` must be a Transfer, got (0, 1, 5)"),
    (
        "run_transfers",
        ([10, 10], [Transfer(0, 1, 1), Transfer(0, 2, 5)]),
        {},
        ValueError,
        "`transfers[1].dst` must be < 2, the number of accounts, got 2",
    ),
    (
        "run_transfers",
        ([10, 10], [Transfer(3, 1, 1)]),
        {},
        ValueError,
        "`transfers[0].src` must be < 2, the number of accounts, got 3",
    ),
    ("run_transfers", ([10], []), {"locked": "yes"}, TypeError, "`locked` must be a bool, got 'yes'"),
    ("run_transfers", ([10], []), {"locked": 1}, TypeError, "`locked` must be a bool, got 1"),
    ("run_bounded", (-1,), {"capacity": 1, "hold": 0}, ValueError, "`jobs` must be >= 0, got -1"),
    ("run_bounded", (3,), {"capacity": 0, "hold": 0}, ValueError, "`capacity` must be >= 1, got 0"),
    ("run_bounded", (3,), {"capacity": 2.0, "hold": 0}, TypeError, "`capacity` must be an int, got 2.0"),
    ("run_bounded", (3,), {"capacity": 1, "hold": -0.5}, ValueError, "`hold` must be >= 0, got -0.5"),
    ("run_bounded", (3,), {"capacity": 1, "hold": math.nan}, ValueError, "`hold` must be >= 0, got nan"),
    ("run_bounded", (3,), {"capacity": 1, "hold": math.inf}, ValueError, "`hold` must be finite, got inf"),
    ("run_bounded", (3,), {"capacity": 1, "hold": "1s"}, TypeError, "`hold` must be a number of seconds, got '1s'"),
    ("run_bounded", (3,), {"capacity": 1, "hold": True}, TypeError, "`hold` must be a number of seconds, got True"),
    ("run_fair", (0,), {}, ValueError, "`waiters` must be >= 1, got 0"),
    ("run_fair", (True,), {}, TypeError, "`waiters` must be an int, got True"),
    ("run_gated", (-2,), {}, ValueError, "`workers` must be >= 0, got -2"),
    ("run_gated", ("3",), {}, TypeError, "`workers` must be an int, got '3'"),
    ("run_gated", (2,), {"late": -1}, ValueError, "`late` must be >= 0, got -1"),
]


@pytest.mark.parametrize(("function", "args", "kwargs", "error", "message"), BAD_INPUT, ids=[m for *_, m in BAD_INPUT])
@pytest.mark.clause("locks.transfers.args", "locks.bounded.args", "locks.fair.args", "locks.gated.args")
def test_bad_input_fails_alike_everywhere(
    locks: Locks,
    run: Run,
    function: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        run(getattr(locks, function), *args, **kwargs)


BAD_TRANSFERS: list[tuple[tuple[Any, ...], type[Exception], str]] = [
    ((0, 1, 0), ValueError, "`amount` must be >= 1, got 0"),
    ((0, 1, -5), ValueError, "`amount` must be >= 1, got -5"),
    ((0, 1, 2.5), TypeError, "`amount` must be an int, got 2.5"),
    ((-1, 1, 5), ValueError, "`src` must be >= 0, got -1"),
    ((0, "1", 5), TypeError, "`dst` must be an int, got '1'"),
    ((False, 1, 5), TypeError, "`src` must be an int, got False"),
]


@pytest.mark.parametrize(("fields", "error", "message"), BAD_TRANSFERS, ids=[m for *_, m in BAD_TRANSFERS])
def test_a_bad_transfer_is_refused_when_made(fields: tuple[Any, ...], error: type[Exception], message: str) -> None:
    # Plain data, made before any loop runs: the same on every flavour by construction.
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        Transfer(*fields)
