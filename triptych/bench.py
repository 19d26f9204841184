"""The benchmarks, as data, and the worker process that times them.

Variants (names are built from the parameters; every parameter is recorded in the results):

- primitives: ``spawn_join``, ``checkpoints``, ``handoff``, ``handoff+checkpoint``,
  ``lock_handoff``, ``timeout_scope``, ``cancel_waiting`` (``impl_*/primitives.py``);
- workloads, at a standard size, through the real ``impl_*`` modules: ``fanout``,
  ``pipeline``, ``timeouts``, ``cancellation``, ``locks``;
- scale: ``spawn_join``, ``fanout`` and ``pipeline`` at N = 10^2 ... 10^5;
- references, which are not flavours: ``httpx-serial`` (one httpx client, one request in
  flight: httpx's own ceiling, on each flavour's loop) and ``aiohttp`` on asyncio and uvloop
  (the client ceiling), run by ``python -m triptych.bench worker --flavour reference``.

A worker (``python -m triptych.bench worker ...``) runs in one flavour's virtualenv, which
holds only that flavour's libraries, and imports nothing else: not rich, not pyperf. It
times what the runner (:mod:`triptych.compare`) asks for on stdin, one value at a time, and
answers in JSON lines. On first use of a benchmark it calibrates the inner loop count so one
value takes about ``TARGET_SECONDS`` and runs the warm-ups. Every call is timed inside the
running event loop (a fresh loop per value, so loop start-up is excluded the same way for
every flavour); memory is measured on request, once, with tracemalloc.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from triptych.flavours import FLAVOURS, Flavour, get
from triptych.server import fetch_stats

__all__ = ["BENCHMARKS", "PROFILES", "Benchmark", "Profile", "main"]

TARGET_SECONDS = 0.02
"""How long one timed value should take; the inner loop count is calibrated to reach it."""

FANOUT_LIMIT = 100
FANOUT_BODY = 64
PIPELINE_SHAPE = {"producers": 1, "consumers": 4, "buffer": 64}

Op = Callable[[], Awaitable[Any]]


@dataclass(frozen=True)
class Benchmark:
    """One timed operation: ``prepare`` builds it for a flavour; each call does ``n`` units."""

    name: str
    group: str
    """The table it belongs to in the report."""
    kind: str
    """``primitive``, ``workload`` or ``reference``; a group measured at several ``n`` is a scale series."""
    n: int
    unit: str
    prepare: Callable[[Flavour, str], Op]
    """``(flavour, server_url) -> op``; the op is awaited inside the flavour's loop."""
    params: dict[str, Any] = field(default_factory=dict)
    needs_server: bool = False


@dataclass(frozen=True)
class Profile:
    """How much to measure: ``processes`` rounds, each with a fresh worker per flavour; in
    each, per benchmark, ``warmups`` untimed values (the first, one call, calibrates) and
    ``values`` timed ones."""

    name: str
    processes: int
    warmups: int
    values: int
    benchmarks: tuple[str, ...]


# --- Primitives ----------------------------------------------------------------------------


def _primitive(call: str, **kwargs: Any) -> Callable[[Flavour, str], Op]:
    def prepare(flavour: Flavour, server_url: str) -> Op:
        function = getattr(flavour.workload("primitives"), call)
        return lambda: function(**kwargs)

    return prepare


# --- Workloads -----------------------------------------------------------------------------


def _fanout(requests: int) -> Callable[[Flavour, str], Op]:
    def prepare(flavour: Flavour, server_url: str) -> Op:
        fanout = flavour.workload("fanout")
        urls = [f"{server_url}/bytes/{FANOUT_BODY}"] * requests

        async def op() -> None:
            results = await fanout.fetch_all(urls, limit=FANOUT_LIMIT)
            if not all(result.ok for result in results):
                raise RuntimeError("a benchmark request failed")

        return op

    return prepare


def _httpx_serial(requests: int) -> Callable[[Flavour, str], Op]:
    """httpx's own ceiling: one client, one request at a time, on the flavour's loop."""

    def prepare(flavour: Flavour, server_url: str) -> Op:
        import httpx

        url = f"{server_url}/bytes/{FANOUT_BODY}"

        async def op() -> None:
            async with httpx.AsyncClient() as client:
                for _ in range(requests):
                    (await client.get(url)).raise_for_status()

        return op

    return prepare


def _aiohttp(requests: int, loop: str) -> Callable[[Flavour, str], Op]:
    """The client ceiling: aiohttp with ``FANOUT_LIMIT`` in flight (reference only)."""

    def prepare(flavour: Flavour, server_url: str) -> Op:
        import asyncio

        import aiohttp

        url = f"{server_url}/bytes/{FANOUT_BODY}"

        async def op() -> None:
            connector = aiohttp.TCPConnector(limit=FANOUT_LIMIT)
            async with aiohttp.ClientSession(connector=connector) as session:
                jobs = iter(range(requests))

                async def worker() -> None:
                    for _ in jobs:
                        async with session.get(url) as response:
                            await response.read()
                            response.raise_for_status()

                async with asyncio.TaskGroup() as tasks:
                    for _ in range(FANOUT_LIMIT):
                        tasks.create_task(worker())

        return op

    return prepare


def _pipeline(n: int) -> Callable[[Flavour, str], Op]:
    """``n`` items from 1 producer to 4 consumers through a buffer of 64, no-op handler."""

    def prepare(flavour: Flavour, server_url: str) -> Op:
        pipeline = flavour.workload("pipeline")

        async def handle(item: int) -> None:
            pass

        return lambda: pipeline.run_pipeline(range(n), handler=handle, **PIPELINE_SHAPE)

    return prepare


def _timeouts(n: int) -> Callable[[Flavour, str], Op]:
    """``n`` jobs of no work, 100 at a time, each under its own timeout and the overall
    deadline (neither fires), each with a shielded cleanup: the cost of the bookkeeping."""

    def prepare(flavour: Flavour, server_url: str) -> Op:
        from shared.timeouts import TimedJob

        timeouts = flavour.workload("timeouts")
        jobs = [TimedJob(f"job-{i}", 0.0) for i in range(n)]
        return lambda: timeouts.run_jobs(jobs, limit=100, job_timeout=60, batch_timeout=600)

    return prepare


def _cancellation(n: int) -> Callable[[Flavour, str], Op]:
    """All-or-nothing over ``n`` jobs where one fails at once: the other ``n - 1`` are
    cancelled and cleaned up."""

    def prepare(flavour: Flavour, server_url: str) -> Op:
        from shared.cancellation import Job, JobFailed

        cancellation = flavour.workload("cancellation")
        jobs = [Job(f"job-{i}", 60.0) for i in range(n - 1)] + [Job("fails", 0.0, error=RuntimeError)]

        async def op() -> None:
            try:
                await cancellation.run_all_or_nothing(jobs)
            except JobFailed:
                return
            raise RuntimeError("the failing job did not fail")

        return op

    return prepare


def _locks(n: int) -> Callable[[Flavour, str], Op]:
    """``n`` concurrent transfers among 10 accounts under per-account locks."""

    def prepare(flavour: Flavour, server_url: str) -> Op:
        from shared.locks import Transfer

        locks = flavour.workload("locks")
        transfers = [Transfer(i % 10, (i * 7 + 3) % 10, 1) for i in range(n)]
        return lambda: locks.run_transfers([1000] * 10, transfers, locked=True)

    return prepare


# --- The registry --------------------------------------------------------------------------
#
# (group, kind, unit, prepare factory taking n, sizes in the full profile, sizes in the quick one).
# Names are built from the parameters: "spawn_join[n=10000]". The full profile's sizes match
# FACTS.md's baselines where it has one (spawn at 10^4 and 10^5, hand-off 1 producer to 4
# consumers through 64, fan-out at 2000 GETs with 100 in flight); the lock hand-off takes 50
# rounds per task where FACTS took 1000, to fit the time budget.

_GROUPS: list[tuple[str, str, str, Callable[[int], Callable[[Flavour, str], Op]], tuple[int, ...], tuple[int, ...]]] = [
    (
        "spawn_join",
        "primitive",
        "task",
        lambda n: _primitive("spawn_join", n=n),
        (100, 1000, 10_000, 100_000),
        (1000, 10_000),
    ),
    ("checkpoints", "primitive", "checkpoint", lambda n: _primitive("checkpoints", n=n), (10_000,), (5_000,)),
    ("handoff", "primitive", "item", lambda n: _primitive("handoff", n=n, checkpoint=False), (10_000,), (5_000,)),
    (
        "handoff+checkpoint",
        "primitive",
        "item",
        lambda n: _primitive("handoff", n=n, checkpoint=True),
        (10_000,),
        (5_000,),
    ),
    (
        "lock_handoff",
        "primitive",
        "acquisition",
        lambda n: _primitive("lock_handoff", tasks=100, rounds=n // 100),
        (5_000,),
        (5_000,),
    ),
    ("timeout_scope", "primitive", "scope", lambda n: _primitive("timeout_scope", n=n), (10_000,), (5_000,)),
    ("cancel_waiting", "primitive", "task", lambda n: _primitive("cancel_waiting", n=n), (1_000,), (1_000,)),
    ("fanout", "workload", "request", _fanout, (100, 1000, 2000, 10_000), (500,)),
    ("httpx-serial", "reference", "request", _httpx_serial, (500,), (200,)),
    ("pipeline", "workload", "item", _pipeline, (100, 1000, 10_000, 100_000), (1000, 10_000)),
    ("timeouts", "workload", "job", _timeouts, (1000,), (1000,)),
    ("cancellation", "workload", "job", _cancellation, (1000,), (1000,)),
    ("locks", "workload", "transfer", _locks, (1000,), (1000,)),
]
_PARAMS: dict[str, dict[str, Any]] = {
    "lock_handoff": {"tasks": 100},
    "fanout": {"limit": FANOUT_LIMIT, "body": FANOUT_BODY},
    "httpx-serial": {"limit": 1, "body": FANOUT_BODY},
    "pipeline": PIPELINE_SHAPE,
    "timeouts": {"limit": 100},
    "locks": {"accounts": 10},
}
_NEEDS_SERVER = {"fanout", "httpx-serial"}


def _build(profile: str) -> dict[str, Benchmark]:
    built = {}
    for group, kind, unit, factory, full, quick in _GROUPS:
        for n in full if profile == "full" else quick:
            name = f"{group}[n={n}]"
            params = {"n": n, **_PARAMS.get(group, {})}
            built[name] = Benchmark(name, group, kind, n, unit, factory(n), params, group in _NEEDS_SERVER)
    return built


def _references(profile: str) -> dict[str, Benchmark]:
    n = 2000 if profile == "full" else 500
    return {
        f"aiohttp-{loop}[n={n}]": Benchmark(
            f"aiohttp-{loop}[n={n}]",
            f"aiohttp-{loop}",
            "reference",
            n,
            "request",
            _aiohttp(n, loop),
            {"n": n, "limit": FANOUT_LIMIT, "body": FANOUT_BODY, "loop": loop},
            needs_server=True,
        )
        for loop in ("asyncio", "uvloop")
    }


BENCHMARKS: dict[str, Benchmark] = {**_build("full"), **_build("quick")}
REFERENCES: dict[str, Benchmark] = {**_references("full"), **_references("quick")}

PROFILES: dict[str, Profile] = {
    "quick": Profile("quick", processes=6, warmups=1, values=2, benchmarks=tuple(_build("quick"))),
    "full": Profile("full", processes=6, warmups=2, values=5, benchmarks=tuple(_build("full"))),
}
REFERENCE_PROFILES: dict[str, tuple[str, ...]] = {name: tuple(_references(name)) for name in PROFILES}


# --- The worker ----------------------------------------------------------------------------


def _time_calls(flavour: Flavour, op: Op, loops: int) -> float:
    """Seconds for ``loops`` calls of ``op``, timed inside a fresh loop of ``flavour``."""

    # Every value starts from the same heap: what an earlier value left for the cyclic
    # collector would otherwise be collected, and charged, at a random point of this one.
    # What survives (the worker's imports, the prepared ops) is then frozen for good, so the
    # collector stops walking it: that walk costs in proportion to what this worker happened
    # to import, not to what the flavour does. The collector still runs during the value,
    # and still charges each flavour for the objects it creates.
    gc.collect()
    gc.freeze()

    async def timed() -> float:
        started = time.perf_counter()
        for _ in range(loops):
            await op()
        return time.perf_counter() - started

    return flavour.run(timed)


def _peak_memory(flavour: Flavour, op: Op) -> tuple[float, float]:
    """(peak KiB, KiB retained) of Python allocations during one call, from inside the loop."""

    async def traced() -> tuple[float, float]:
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            await op()
            current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return (peak - base) / 1024, (current - base) / 1024

    return flavour.run(traced)


@dataclass
class _Prepared:
    """One benchmark made ready in this worker: its op, calibrated, and its warm-ups."""

    benchmark: Benchmark
    flavour: Flavour
    op: Op
    loops: int
    warmups: list[list[float]]


def _prepare(flavour: Flavour, benchmark: Benchmark, server_url: str, warmups: int) -> _Prepared:
    """Build ``benchmark`` for ``flavour``, calibrate its inner loop count and warm it up.

    The first warm-up, one call, is also the calibration; ``warmups`` >= 1 counts it.
    """
    op = benchmark.prepare(flavour, server_url)
    first = _time_calls(flavour, op, 1)
    loops = max(1, math.ceil(TARGET_SECONDS / max(first, 1e-9)))
    per_unit = loops * benchmark.n
    warm = [[1, first / benchmark.n]]
    warm += [[loops, _time_calls(flavour, op, loops) / per_unit] for _ in range(warmups - 1)]
    return _Prepared(benchmark, flavour, op, loops, warm)


def _time_value(prepared: _Prepared, server_url: str) -> dict[str, Any]:
    """One timed value: seconds per unit, and the server's CPU seconds while it ran."""
    benchmark = prepared.benchmark
    server_before = fetch_stats(server_url).cpu_seconds if benchmark.needs_server else 0.0
    seconds = _time_calls(prepared.flavour, prepared.op, prepared.loops)
    record: dict[str, Any] = {"value": seconds / (prepared.loops * benchmark.n), "seconds": seconds}
    if benchmark.needs_server:
        record["server_cpu_seconds"] = fetch_stats(server_url).cpu_seconds - server_before
    return record


def _memory(prepared: _Prepared) -> dict[str, Any]:
    """Peak and retained KiB of one call, traced."""
    peak, retained = _peak_memory(prepared.flavour, prepared.op)
    n = prepared.benchmark.n
    return {"peak_kib": round(peak, 1), "kib_per_unit": round(peak / n, 4), "retained_kib": round(retained, 1)}


def environment(flavour_name: str) -> dict[str, Any]:
    """What changes a number, from inside the worker's own interpreter."""
    versions = {}
    for package in ("anyio", "trio", "uvloop", "httpx", "httpcore", "aiohttp", "sniffio"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {
        "flavour": flavour_name,
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [],
        "versions": versions,
    }


def _worker(args: argparse.Namespace) -> int:
    """Answer the runner's requests, one JSON line each, until stdin closes.

    ``{"name": N}`` times one value of benchmark N (preparing it on first use: calibration
    and warm-ups); ``{"name": N, "memory": true}`` measures its memory instead. The runner
    asks every flavour's worker for one value in turn, so the flavours of a benchmark are
    timed seconds apart, under the same conditions of the machine.
    """
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    if args.flavour == "reference":
        flavour, registry = get("asyncio"), REFERENCES
    else:
        flavour, registry = get(args.flavour), BENCHMARKS
    print(json.dumps({"environment": environment(args.flavour)}), flush=True)
    prepared: dict[str, _Prepared] = {}
    for line in sys.stdin:
        request = json.loads(line)
        name = request["name"]
        record: dict[str, Any] = {"name": name}
        try:
            if name not in prepared:
                benchmark = registry[name]
                runner = get("asyncio+uvloop") if benchmark.params.get("loop") == "uvloop" else flavour
                prepared[name] = _prepare(runner, benchmark, args.server_url, args.warmups)
                record.update(loops=prepared[name].loops, warmups=prepared[name].warmups)
            if request.get("memory"):
                record.update(_memory(prepared[name]))
            else:
                record.update(_time_value(prepared[name], args.server_url))
        except Exception as exc:  # one broken benchmark must not stop the others
            record["error"] = f"{type(exc).__name__}: {exc}"
        print(json.dumps(record), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triptych.bench", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="time the benchmarks named on stdin; answer in JSON lines")
    worker.add_argument("--flavour", required=True, choices=[f.name for f in FLAVOURS] + ["reference"])
    worker.add_argument("--server-url", default="")
    worker.add_argument(
        "--warmups", type=int, default=1, help="untimed values before the timed ones; the first, one call, calibrates"
    )
    worker.add_argument("--cpu", type=int, help="run on this CPU alone (Linux)")
    args = parser.parse_args(argv)
    return _worker(args)


if __name__ == "__main__":
    sys.exit(main())
