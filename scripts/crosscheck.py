"""An independent cross-check of two primitives' ratios: the lock and queue hand-offs.

    python scripts/crosscheck.py [--repeats 3]

Written from each library's documentation, importing nothing of triptych: 100 tasks take one
lock 1000 times each, holding it across a checkpoint; 200,000 items go from 1 producer to 4
consumers through a buffer of 64, with no added checkpoint. Each flavour runs in fresh
processes (``--repeats`` of them, in a rotating order), each timing 3 calls in a fresh loop
of its own and keeping the last 2; a call is timed inside the loop, in the thread's CPU
time, so the moments a crowded host gives the CPU to someone else do not count. The ratio
to asyncio is the median of the ratios of processes run one after the other. Needs every
flavour's library in the running interpreter (anyio, trio, uvloop).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

FLAVOURS = {  # name: (library, loop)
    "asyncio": ("asyncio", "asyncio"),
    "asyncio+uvloop": ("asyncio", "uvloop"),
    "trio": ("trio", "trio"),
    "anyio-asyncio": ("anyio", "asyncio"),
    "anyio-uvloop": ("anyio", "uvloop"),
    "anyio-trio": ("anyio", "trio"),
}
TASKS, ROUNDS = 100, 1000
ITEMS, BUFFER, CONSUMERS = 200_000, 64, 4
CALLS = 3
Op = Callable[[], Awaitable[None]]
Forms = tuple[Callable[..., Any], Op, Op]
"""A flavour's runner, its lock hand-off and its queue hand-off."""


def _asyncio_forms(loop: str) -> Forms:
    import asyncio

    async def take(lock: asyncio.Lock) -> None:
        for _ in range(ROUNDS):
            async with lock:
                await asyncio.sleep(0)

    async def lock_handoff() -> None:
        lock = asyncio.Lock()
        async with asyncio.TaskGroup() as group:
            for _ in range(TASKS):
                group.create_task(take(lock))

    done = object()

    async def consume(queue: asyncio.Queue[object]) -> None:
        while await queue.get() is not done:
            pass

    async def handoff() -> None:
        queue: asyncio.Queue[object] = asyncio.Queue(BUFFER)
        async with asyncio.TaskGroup() as group:
            for _ in range(CONSUMERS):
                group.create_task(consume(queue))
            for item in range(ITEMS):
                await queue.put(item)
            for _ in range(CONSUMERS):
                await queue.put(done)

    def run(fn: Callable[[], Awaitable[Any]]) -> Any:
        factory = None
        if loop == "uvloop":
            import uvloop

            factory = uvloop.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(fn())  # type: ignore[arg-type]

    return run, lock_handoff, handoff


def _structured_forms(library: str, loop: str) -> Forms:
    """Trio and AnyIO read alike: a nursery or task group, a Lock, a memory channel or stream."""
    lib: Any = importlib.import_module(library)
    if library == "trio":
        open_group, open_channel = lib.open_nursery, lib.open_memory_channel
    else:
        open_group, open_channel = lib.create_task_group, lib.create_memory_object_stream

    async def take(lock: Any) -> None:
        for _ in range(ROUNDS):
            async with lock:
                await lib.lowlevel.checkpoint()

    async def lock_handoff() -> None:
        lock = lib.Lock()
        async with open_group() as group:
            for _ in range(TASKS):
                group.start_soon(take, lock)

    async def consume(receive: Any) -> None:
        async with receive:
            async for _ in receive:
                pass

    async def handoff() -> None:
        send, receive = open_channel(BUFFER)
        async with open_group() as group:
            with receive:
                for _ in range(CONSUMERS):
                    group.start_soon(consume, receive.clone())
            async with send:
                for item in range(ITEMS):
                    await send.send(item)

    def run(fn: Callable[[], Awaitable[Any]]) -> Any:
        if library == "trio":
            return lib.run(fn)
        options = {"use_uvloop": True} if loop == "uvloop" else {}
        return lib.run(fn, backend="trio" if loop == "trio" else "asyncio", backend_options=options)

    return run, lock_handoff, handoff


def child(flavour: str) -> None:
    """In a fresh process: CPU µs per unit of each primitive, one JSON line per call."""
    library, loop = FLAVOURS[flavour]
    run, lock_handoff, handoff = _asyncio_forms(loop) if library == "asyncio" else _structured_forms(library, loop)
    for name, fn, units in (("lock_handoff", lock_handoff, TASKS * ROUNDS), ("handoff", handoff, ITEMS)):

        async def timed(fn: Callable[[], Awaitable[None]] = fn) -> float:
            started = time.thread_time()
            await fn()
            return time.thread_time() - started

        for call in range(CALLS):
            print(json.dumps({"name": name, "call": call, "us": run(timed) / units * 1e6}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=list(FLAVOURS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    names = ("lock_handoff", "handoff")
    values: dict[str, dict[str, list[float]]] = {name: {f: [] for f in FLAVOURS} for name in names}
    loads = []
    for repeat in range(args.repeats):
        order = list(FLAVOURS)
        for flavour in order[repeat % 6 :] + order[: repeat % 6]:
            command = [sys.executable, __file__, "--child", flavour]
            lines = subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines()
            for record in map(json.loads, lines):
                if record["call"] == 0:  # the first call of a process is its warm-up
                    continue
                values[record["name"]][flavour].append(record["us"])
            loads.append(os.getloadavg()[0])
    print(f"CPU µs per unit, median of {args.repeats} processes x {CALLS - 1} calls; "
          f"load average {min(loads):.1f}-{max(loads):.1f}")  # fmt: skip
    for name, by_flavour in values.items():
        print(name)
        per_process = {f: [statistics.median(v[i : i + CALLS - 1]) for i in range(0, len(v), CALLS - 1)]
                       for f, v in by_flavour.items()}  # fmt: skip
        for flavour, medians in per_process.items():
            ratios = [m / base for m, base in zip(medians, per_process["asyncio"], strict=True)]
            print(f"  {flavour:15} {statistics.median(medians):8.3f} µs   vs asyncio {statistics.median(ratios):5.2f}x"
                  f" [{min(ratios):.2f}-{max(ratios):.2f}]")  # fmt: skip


if __name__ == "__main__":
    main()
