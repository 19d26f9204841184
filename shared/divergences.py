"""The divergence catalogue: every semantic difference between asyncio, Trio and AnyIO that
code moved from one to another runs into, as data.

The workloads' contract hides these differences from its callers; the catalogue shows them.
Each entry names a probe: a function of that name in ``impl_asyncio/divergences.py``,
``impl_trio/divergences.py`` and ``impl_anyio/divergences.py``, the shortest idiomatic
program that shows the behaviour in its library, returning a small observation. The suite
(``tests/test_divergences.py``) pins each observation per flavour and per Python, and
``python -m triptych divergences`` runs the probes now, on the flavours installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["ENTRIES", "Divergence", "Observation", "by_id"]

Observation = str | int | list[str] | dict[str, str]
"""What a probe returns: a value small enough to print in one cell of the matrix."""

ANYIO_WHY = "https://anyio.readthedocs.io/en/stable/why.html"
ANYIO_CANCELLATION = "https://anyio.readthedocs.io/en/stable/cancellation.html"
ANYIO_TASKS = "https://anyio.readthedocs.io/en/stable/tasks.html"
ANYIO_THREADS = "https://anyio.readthedocs.io/en/stable/threads.html"
TRIO_CORE = "https://trio.readthedocs.io/en/stable/reference-core.html"
CPYTHON = "https://github.com/python/cpython/blob/3.13/Lib/asyncio"


@dataclass(frozen=True)
class Divergence:
    """One semantic difference, and the probe that shows it on every flavour."""

    id: str
    """Short and stable, cited by code comments: ``"D01"``."""
    title: str
    """A few words: ``"swallowed cancellation"``."""
    what: str
    """One paragraph: what differs."""
    meaning: str
    """One or two lines: what it means for code moved between libraries."""
    sources: tuple[str, ...]
    """Upstream documentation pages, issues or source files, by URL."""
    probe: str
    """The name of the probe function in each ``impl_*/divergences.py``."""
    not_applicable: Mapping[str, str] = field(default_factory=dict)
    """Flavour name -> why the probe cannot run there; empty when it runs everywhere."""


ENTRIES: tuple[Divergence, ...] = (
    # --- Cancellation ---
    Divergence(
        "D01",
        "edge- against level-triggered cancellation",
        "When `asyncio.timeout` fires it cancels the task once: the CancelledError is delivered at one "
        "await, and a second await in the `finally` block completes. A Trio or AnyIO scope stays "
        "cancelled: every await inside it raises again until the block is left.",
        "Cleanup that awaits runs to its end under asyncio; under Trio and AnyIO it needs a shielded "
        "scope, or its first await is cancelled too.",
        (ANYIO_WHY, ANYIO_CANCELLATION),
        "second_await_after_timeout",
    ),
    Divergence(
        "D02",
        "swallowed cancellation",
        "Code inside `asyncio.timeout` that catches and drops CancelledError runs on as if nothing "
        "happened, and the timeout raises no TimeoutError. Trio and AnyIO cancel it again at its "
        "next checkpoint, so a stray `except BaseException` cannot keep the task alive.",
        "An `except Exception`-style catch-all that also catches cancellation silently defeats "
        "asyncio timeouts; under Trio and AnyIO it only delays the cancel to the next await.",
        (ANYIO_WHY, "https://github.com/python/cpython/issues/102780"),
        "swallowed_cancellation",
    ),
    Divergence(
        "D03",
        "cancelled before its first step",
        "An asyncio task cancelled before it first runs never runs at all: no `finally`, no "
        "`async with` exit. A Trio or AnyIO task spawned into a cancelled scope runs up to its "
        "first checkpoint, and is cancelled there.",
        "A task that owns a resource must not count on its cleanup running under asyncio; under "
        "Trio and AnyIO, code before the first await runs even in a cancelled group.",
        (ANYIO_WHY, ANYIO_TASKS),
        "cancelled_before_first_step",
    ),
    Divergence(
        "D04",
        "a value ready when the cancel came",
        "An asyncio task about to resume with a value (its future already resolved) that is "
        "cancelled gets CancelledError instead, and the value is lost. Trio's and AnyIO's scopes "
        "never cancel a task that is scheduled to resume with a value: it gets the value, and the "
        "cancel lands at its next checkpoint.",
        "Hand-offs built on futures can drop an item under asyncio when the receiver is cancelled "
        "at the wrong moment; Trio channels and AnyIO streams do not.",
        (ANYIO_WHY,),
        "value_ready_at_cancel",
    ),
    Divergence(
        "D05",
        "shielding",
        "`asyncio.shield` protects the inner work but not its waiter: the waiter gets "
        "CancelledError at once and resumes while the work runs on, owned by nobody. A "
        "`CancelScope(shield=True)` block runs to its end, and the cancel lands after it.",
        "A shielded cleanup in asyncio needs its own task that someone awaits to its end; Trio "
        "and AnyIO shield a block of code in place.",
        (ANYIO_WHY, ANYIO_CANCELLATION),
        "shielded_cleanup",
    ),
    # --- Task groups ---
    Divergence(
        "D06",
        "one failing child still gives an exception group",
        "Every error out of a task group arrives wrapped in an ExceptionGroup, even a single one: "
        "asyncio.TaskGroup always did, AnyIO since 4.0, Trio since 0.25 made "
        "`strict_exception_groups=True` the default.",
        "The same everywhere today: catch with `except*`, or unwrap a single error yourself; code "
        "written for old Trio or AnyIO 3 that catches the bare error no longer does.",
        (
            f"{TRIO_CORE}#historical-note-non-strict-exceptiongroups",
            "https://github.com/python-trio/trio/releases/tag/v0.25.0",
        ),
        "one_failing_child",
    ),
    Divergence(
        "D07",
        "the body of a task group raises",
        "When the code inside `async with` raises, every library cancels the children, waits for "
        "them, and raises the body's error inside an ExceptionGroup.",
        "The same everywhere: a failing body never leaves children running.",
        (ANYIO_TASKS, "https://github.com/python/cpython/issues/90908"),
        "failing_body",
    ),
    Divergence(
        "D08",
        "spawning into a failing group",
        "Once a child has failed, `asyncio.TaskGroup.create_task` raises RuntimeError (and before "
        "3.13 leaves the coroutine unawaited). Trio and AnyIO start the new task, which is "
        "cancelled at its first checkpoint.",
        "Code that spawns from `finally` or from a sibling must handle RuntimeError under asyncio; "
        "under Trio and AnyIO the spawn succeeds and the task is cancelled.",
        (ANYIO_TASKS, f"{CPYTHON}/taskgroups.py"),
        "spawn_into_failing_group",
    ),
    Divergence(
        "D09",
        "cancelling a whole group",
        "A nursery or AnyIO task group is cancelled through its cancel scope (AnyIO 4.14 also has "
        "`TaskGroup.cancel()`): the body runs on to its next checkpoint and the group exits "
        "quietly. asyncio.TaskGroup has no way to do it before Python 3.15's `TaskGroup.cancel()`; "
        "the documented recipe raises a private exception and catches it with `except*`.",
        "Before 3.15, asyncio code tracks its tasks to cancel them; Trio and AnyIO cancel the group in one call.",
        (ANYIO_WHY, f"{CPYTHON}/taskgroups.py"),
        "cancel_the_group",
    ),
    Divergence(
        "D10",
        "an outer timeout and a failing child at once",
        "asyncio counts cancellations per task (`cancelling()`/`uncancel()`) so a TaskGroup inside "
        "`asyncio.timeout` can tell its own cancel from the timeout's; when a child fails while the "
        "timeout fires, the child's error wins. Trio and AnyIO scopes nest without a counter.",
        "The same outcome everywhere here; in asyncio it rests on every layer calling `uncancel()`, "
        "which code that swallows a CancelledError breaks.",
        ("https://github.com/python/cpython/issues/102780", f"{CPYTHON}/timeouts.py"),
        "outer_timeout_and_failing_child",
    ),
    # --- Scheduling and checkpoints ---
    Divergence(
        "D11",
        "checkpoints when the operation is ready",
        "An uncontended `asyncio.Lock.acquire` and a `Queue.get` with an item ready return without "
        "yielding or checking for cancellation, so one consumer can take every item and a pending "
        "cancel lands later. Every Trio and AnyIO call is a checkpoint: it checks for cancellation "
        "(and yields) even when it could return at once.",
        "asyncio code that relies on a hot loop over a full queue yielding to others starves them; "
        "ported to Trio or AnyIO the same loop pays a checkpoint per item.",
        (f"{TRIO_CORE}#checkpoints",),
        "checkpoints_when_ready",
    ),
    Divergence(
        "D12",
        "scheduling order",
        "asyncio runs ready tasks first in, first out. Trio reverses each batch of ready tasks at "
        "random, half of the time, so that no code comes to depend on an order (64 rounds of two "
        "tasks show both orders). AnyIO follows its backend.",
        "Tests that pass on asyncio because tasks finish in spawn order fail now and then on Trio.",
        ("https://github.com/python-trio/trio/blob/main/src/trio/_core/_run.py",),
        "ready_task_order",
    ),
    Divergence(
        "D13",
        "eager tasks",
        "With `asyncio.eager_task_factory` (Python 3.12+) `create_task` runs the child's first step "
        "before it returns, which changes the order of events and means a task cannot be cancelled "
        "before it starts. Trio and AnyIO never run a child inside `start_soon`.",
        "Code that sets up state after `create_task` for the child to read breaks under an eager "
        "factory; Trio and AnyIO keep the lazy order.",
        (ANYIO_WHY, "https://github.com/agronholm/anyio/pull/822"),
        "spawn_runs_first_step",
    ),
    # --- Timeouts ---
    Divergence(
        "D14",
        "the timeout error",
        "`asyncio.timeout` and `anyio.fail_after` raise TimeoutError; `trio.fail_after` raises "
        "`trio.TooSlowError`, which is not a TimeoutError. `move_on_after` (Trio, AnyIO) raises "
        "nothing; asyncio has no equivalent.",
        "`except TimeoutError` misses a Trio timeout: catch TooSlowError there, or use AnyIO.",
        (ANYIO_CANCELLATION, TRIO_CORE),
        "timeout_error_type",
    ),
    # --- Queues and channels ---
    Divergence(
        "D15",
        "the default buffer",
        "`asyncio.Queue()` is unbounded; `trio.open_memory_channel` has no default size; "
        "`anyio.create_memory_object_stream()` defaults to 0, a rendezvous where a send waits for "
        "a receiver.",
        "A queue ported without a size either grows without bound (asyncio) or blocks every "
        "producer until a consumer arrives (AnyIO).",
        (f"{ANYIO_WHY}#design-problems-with-asyncio-queues",),
        "default_buffer",
    ),
    Divergence(
        "D16",
        "several producers closing",
        "`Queue.shutdown()` (Python 3.13+) closes the queue for every producer: the first one done "
        "makes the others' puts fail. Trio and AnyIO give each producer a clone of the send end; "
        "the receiver sees the end only when the last clone is closed.",
        "asyncio needs its own count of producers (or a sentinel per consumer) to shut down; Trio "
        "and AnyIO count for you.",
        (f"{ANYIO_WHY}#design-problems-with-asyncio-queues", f"{CPYTHON}/queues.py"),
        "producers_closing",
    ),
    # --- Synchronization ---
    Divergence(
        "D17",
        "lock ownership",
        "Any asyncio task may release an `asyncio.Lock`; Trio and AnyIO locks belong to the task "
        "that acquired them, and releasing from another raises RuntimeError.",
        "Hand-over-the-lock patterns from asyncio must become an Event or a Semaphore in Trio and AnyIO.",
        (TRIO_CORE, f"{CPYTHON}/locks.py"),
        "release_from_another_task",
    ),
    Divergence(
        "D18",
        "releasing a semaphore too often",
        "A plain semaphore's value grows with every extra release in all three; "
        "`asyncio.BoundedSemaphore`, `trio.Semaphore(max_value=...)` and "
        "`anyio.Semaphore(max_value=...)` raise ValueError instead.",
        "The same once the bound is spelled: use the bounded form in each library.",
        (TRIO_CORE, f"{CPYTHON}/locks.py"),
        "over_release",
    ),
    Divergence(
        "D19",
        "fairness",
        "All three locks hand over in FIFO order: a task that releases and at once re-acquires "
        "queues behind the waiter. Releasing is not a checkpoint in any of them.",
        "The same everywhere: no starvation by a task that re-acquires in a loop.",
        (f"{TRIO_CORE}#fairness", f"{CPYTHON}/locks.py"),
        "lock_handover",
    ),
    # --- Threads ---
    Divergence(
        "D20",
        "cancelling a call in a worker thread",
        "Cancelling `asyncio.to_thread` stops the wait at once while the thread runs on. Trio's "
        "and AnyIO's `to_thread.run_sync` wait for the thread to finish before the cancel lands, "
        "unless `abandon_on_cancel=True`.",
        "A timeout around a blocking call returns on time in asyncio with the thread still busy; "
        "in Trio and AnyIO it returns late, when the thread is done.",
        (ANYIO_THREADS,),
        "cancel_during_thread_call",
    ),
    Divergence(
        "D21",
        "context variables in worker threads",
        "`asyncio.to_thread`, `trio.to_thread.run_sync` and `anyio.to_thread.run_sync` run the "
        "function in a copy of the caller's context; `loop.run_in_executor` does not.",
        "Request-scoped context (tracing, auth) vanishes in threads started with `run_in_executor`; use `to_thread`.",
        (ANYIO_THREADS, "https://github.com/python/cpython/issues/78195"),
        "context_in_worker_thread",
    ),
    Divergence(
        "D22",
        "default number of worker threads",
        "asyncio's default executor is a ThreadPoolExecutor of `min(32, cpu + 4)` threads; Trio's "
        "and AnyIO's default thread limiter allows 40.",
        "The same blocking calls run with different parallelism: on a 2-core machine asyncio runs 6 "
        "at once, Trio and AnyIO 40.",
        (ANYIO_THREADS, "https://github.com/python-trio/trio/blob/main/src/trio/_threads.py"),
        "default_thread_limit",
    ),
    # --- Generators, signals, scopes and the clock ---
    Divergence(
        "D23",
        "yielding inside a cancel scope",
        "An async generator that yields inside a timeout or task group leaves the scope open in "
        "its consumer's frame: the timeout fires in the consumer's own code, where the generator's "
        "scope cannot catch it, and the consumer sees a bare cancellation (PEP 789). It goes wrong "
        "the same way in all three; AnyIO and Trio document it as unsupported.",
        "Never yield inside a scope in an async generator, in any library; make it an async "
        "context manager or a channel fed by a task.",
        ("https://peps.python.org/pep-0789/", ANYIO_CANCELLATION),
        "yield_inside_timeout",
    ),
    Divergence(
        "D24",
        "Ctrl-C",
        "On SIGINT asyncio's runner cancels the main task (it sees CancelledError) and raises "
        "KeyboardInterrupt from `run()` once the task is done. Trio raises KeyboardInterrupt in "
        "the main task itself, at once or at its next checkpoint. AnyIO follows its backend.",
        "Cleanup that catches CancelledError runs on Ctrl-C under asyncio; under Trio it must "
        "catch KeyboardInterrupt (or use `finally`).",
        (
            "https://trio.readthedocs.io/en/stable/reference-lowlevel.html#safer-keyboardinterrupt-handling",
            f"{CPYTHON}/runners.py",
        ),
        "ctrl_c",
    ),
    Divergence(
        "D25",
        "start() and started()",
        "Trio's `nursery.start()` and AnyIO's `TaskGroup.start()` wait until the child calls "
        "`task_status.started(value)`; the child runs under the caller's scopes until then, so a "
        "group cancelled before that still hands the value back. asyncio.TaskGroup has no "
        "equivalent.",
        "asyncio code hand-builds the handshake with a Future; Trio and AnyIO code gets it, with "
        "the same outcome on both AnyIO backends.",
        (ANYIO_WHY, ANYIO_TASKS),
        "group_cancelled_before_started",
    ),
    Divergence(
        "D26",
        "reusing a cancel scope",
        "A Trio cancel scope (so AnyIO on Trio too) may be entered once; a second `with` raises "
        "RuntimeError. AnyIO's own scope on asyncio can be entered again; an `asyncio.timeout` "
        "cannot.",
        "Code that keeps a scope object around to re-enter works on AnyIO-asyncio only: make a new scope each time.",
        (ANYIO_CANCELLATION, f"{CPYTHON}/timeouts.py"),
        "reuse_cancel_scope",
    ),
    Divergence(
        "D27",
        "the clock",
        "asyncio's `loop.time()` is `time.monotonic()`. Trio's clock is `time.perf_counter()` plus "
        "a large random offset, so that no code mixes it with another clock.",
        "Deadlines computed from `time.monotonic()` are wrong under Trio: take them from the "
        "library's own `current_time()`.",
        (f"{TRIO_CORE}#time-and-clocks",),
        "clock_origin",
    ),
    # --- What asyncio's tutorials teach ---
    Divergence(
        "D28",
        "gather against a task group",
        "When one awaitable passed to `asyncio.gather` fails, gather raises that error at once and "
        "the others run on, unowned (with `return_exceptions=True` it waits for all). A nursery "
        "or task group cancels the siblings and waits for them.",
        "Replacing gather with a task group changes what is still running after an error: nothing.",
        (ANYIO_WHY, ANYIO_TASKS),
        "first_error_among_siblings",
    ),
    Divergence(
        "D29",
        "wait_for",
        "On Python 3.11 `asyncio.wait_for` runs the awaitable in a new task; from 3.12 it is built "
        "on `asyncio.timeout` and runs it in the caller's task. `fail_after` always runs in the "
        "caller's task.",
        "Context variables set and task identity seen inside `wait_for` differ between 3.11 and "
        "3.12; Trio and AnyIO scopes never change task.",
        (f"{CPYTHON}/tasks.py",),
        "wait_for_task",
    ),
    Divergence(
        "D30",
        "stopping early",
        "A caller that takes the first result of `asyncio.as_completed` (or `asyncio.wait` with "
        "FIRST_COMPLETED) and stops leaves the rest running, owned by nobody. A memory channel fed "
        "from a nursery stops them when the reader cancels the nursery.",
        "With asyncio, cancel what is left yourself; with Trio and AnyIO, leaving the group does it.",
        (ANYIO_WHY, ANYIO_TASKS),
        "stop_reading_early",
    ),
    Divergence(
        "D31",
        "Condition under cancellation",
        "In all three, a task cancelled in `Condition.wait()` re-acquires the lock before the "
        "cancel propagates. Under AnyIO's level cancellation an `asyncio.Condition` spins: it "
        "suppresses the cancel until it has the lock and is cancelled again at every try.",
        "Use the library's own Condition: `anyio.Condition` under AnyIO, never `asyncio.Condition`.",
        (f"{ANYIO_CANCELLATION}#differences-between-asyncio-and-anyio-cancellation-semantics",),
        "cancel_condition_wait",
    ),
    # --- Channels, events and locks, continued ---
    Divergence(
        "D32",
        "the end of a stream",
        "Receiving after every send end is closed raises `trio.EndOfChannel` / `anyio.EndOfStream`; "
        "sending after every receive end is closed raises BrokenResourceError. asyncio's queue has "
        "no ends to close before 3.13; `Queue.shutdown()` then makes both raise QueueShutDown.",
        "asyncio consumers before 3.13 need a sentinel to stop; Trio and AnyIO consumers end their "
        "`async for` by themselves.",
        (f"{ANYIO_WHY}#design-problems-with-asyncio-queues", f"{CPYTHON}/queues.py"),
        "end_of_stream",
    ),
    Divergence(
        "D33",
        "resetting an event",
        "`asyncio.Event.clear()` resets an event; Trio's and AnyIO's events have no `clear()`: once "
        "set, they stay set.",
        "asyncio code that reuses one Event as a flag must create a new Event per round in Trio and AnyIO.",
        (TRIO_CORE, f"{CPYTHON}/locks.py"),
        "reset_event",
    ),
    Divergence(
        "D34",
        "re-acquiring a lock you hold",
        "A task that acquires an `asyncio.Lock` it already holds waits for itself forever. Trio and "
        "AnyIO raise RuntimeError at once.",
        "A self-deadlock in asyncio is a hang to debug; in Trio and AnyIO it is an error at the line.",
        (TRIO_CORE, f"{CPYTHON}/locks.py"),
        "reacquire_own_lock",
    ),
)


def by_id(entry_id: str) -> Divergence:
    """The entry called ``entry_id``; ``KeyError`` names the valid ids otherwise."""
    for entry in ENTRIES:
        if entry.id == entry_id:
            return entry
    raise KeyError(f"no divergence {entry_id!r}; the ids run from {ENTRIES[0].id} to {ENTRIES[-1].id}")
