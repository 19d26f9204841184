"""The worker process: times the benchmarks the runner names on stdin, on one flavour.

A worker (``python -m triptych.worker --flavour NAME ...``) runs in one flavour's
virtualenv, which holds only that flavour's libraries, and imports nothing else: not rich,
not pyperf. It times what the runner (:mod:`triptych.runner`) asks for on stdin, one value
at a time, and answers in JSON lines. On first use of a benchmark it calibrates the inner
loop count so one value takes about ``TARGET_SECONDS`` and runs the warm-ups. Every call is
timed inside the running event loop (a fresh loop per value, so loop start-up is excluded
the same way for every flavour); memory is measured on request, once, with tracemalloc.
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
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from triptych.benchmarks import BENCHMARKS, Benchmark, Op
from triptych.flavours import FLAVOUR_NAMES, Flavour, get
from triptych.server import fetch_stats

__all__ = ["main"]

TARGET_SECONDS = 0.02
"""How long one timed value should take; the inner loop count is calibrated to reach it."""

REFERENCE_ITERATIONS = 40_000
"""The fixed work of the reference loop that reads the host's speed (about 2 ms here)."""

VERSIONED = (
    "anyio", "trio", "uvloop", "httpx", "httpcore", "h11", "aiohttp", "sniffio", "outcome",
    "httpx2", "httpcore2", "httpx-aiohttp",
)  # fmt: skip
"""The packages whose versions are recorded with every result, when installed."""


def _time_calls(flavour: Flavour, op: Op, loops: int) -> tuple[float, float]:
    """Wall and CPU seconds for ``loops`` calls of ``op``, timed inside a fresh loop of ``flavour``."""

    # Every value starts from the same heap: what an earlier value left for the cyclic
    # collector would otherwise be collected, and charged, at a random point of this one.
    # What survives (the worker's imports, the prepared ops) is then frozen for good, so the
    # collector stops walking it: that walk costs in proportion to what this worker happened
    # to import, not to what the flavour does. The collector still runs during the value,
    # and still charges each flavour for the objects it creates.
    gc.collect()
    gc.freeze()

    async def timed() -> tuple[float, float]:
        started, cpu_started = time.perf_counter(), time.process_time()
        for _ in range(loops):
            await op()
        return time.perf_counter() - started, time.process_time() - cpu_started

    return flavour.run(timed)


def _cost(benchmark: Benchmark, timing: tuple[float, float]) -> float:
    """The seconds a value counts, of ``(wall, cpu)``: CPU where :attr:`Benchmark.cpu_timed`."""
    return timing[1] if benchmark.cpu_timed else timing[0]


def reference_loop() -> float:
    """CPU seconds for a fixed piece of pure-Python work: the host's speed at this moment.

    The same work in every worker of a run, so dividing a value by the time around it
    removes what the host's speed did to it (see :mod:`triptych.stats`). It is timed in CPU
    time: on a quiet host that varies as wall time does, and on a crowded one it leaves out
    the moments the worker was not running at all, which a 2 ms loop would otherwise
    catch whole (a wall-clock reading then varied 25-fold, from 2 to 97 ms).
    """
    started = time.thread_time()
    total = 0
    for i in range(REFERENCE_ITERATIONS):
        total += i * i % 7
    return time.thread_time() - started


def _peak_memory(flavour: Flavour, op: Op) -> float:
    """Peak KiB of Python allocations during one call, from inside the loop."""

    async def traced() -> float:
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            await op()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return (peak - base) / 1024

    return flavour.run(traced)


@dataclass
class _Prepared:
    """One benchmark made ready in this worker: its op, calibrated, and its warm-ups."""

    benchmark: Benchmark
    op: Op
    loops: int
    warmups: list[list[float]]


def _prepare(flavour: Flavour, benchmark: Benchmark, server_url: str, warmups: int) -> _Prepared:
    """Build ``benchmark`` for ``flavour``, calibrate its inner loop count and warm it up.

    The first warm-up, one call, is also the calibration; ``warmups`` >= 1 counts it.
    """
    op = benchmark.prepare(flavour, server_url)
    first = _time_calls(flavour, op, 1)
    loops = max(1, math.ceil(TARGET_SECONDS / max(first[0], 1e-9)))
    per_unit = loops * benchmark.n
    warm = [[1, _cost(benchmark, first) / benchmark.n]]
    warm += [[loops, _cost(benchmark, _time_calls(flavour, op, loops)) / per_unit] for _ in range(warmups - 1)]
    return _Prepared(benchmark, op, loops, warm)


def _time_value(flavour: Flavour, prepared: _Prepared, server_url: str) -> dict[str, Any]:
    """One timed value: seconds per unit (CPU seconds where :attr:`Benchmark.cpu_timed`), the
    reference loop's time right before and right after it, and the server's CPU seconds
    while it ran."""
    benchmark = prepared.benchmark
    server_before = fetch_stats(server_url).cpu_seconds if benchmark.needs_server else 0.0
    reference_before = reference_loop()
    timing = _time_calls(flavour, prepared.op, prepared.loops)
    reference_after = reference_loop()
    record: dict[str, Any] = {
        "value": _cost(benchmark, timing) / (prepared.loops * benchmark.n),
        "seconds": timing[0],
        "cpu_seconds": timing[1],
        "reference_before": reference_before,
        "reference_after": reference_after,
    }
    if benchmark.needs_server:
        record["server_cpu_seconds"] = fetch_stats(server_url).cpu_seconds - server_before
    return record


def _memory(flavour: Flavour, prepared: _Prepared) -> dict[str, Any]:
    """Peak KiB of one call, traced, in all and per unit."""
    peak = _peak_memory(flavour, prepared.op)
    return {"peak_kib": round(peak, 1), "kib_per_unit": round(peak / prepared.benchmark.n, 4)}


def environment(flavour_name: str) -> dict[str, Any]:
    """What changes a number, from inside the worker's own interpreter."""
    versions = {}
    for package in VERSIONED:
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
        # Set by the noxfile: "locked" (locks/constraints.txt) or "newest"; else as found.
        "install": os.environ.get("TRIPTYCH_INSTALL", "as installed"),
    }


def serve(flavour: Flavour, server_url: str, warmups: int) -> None:
    """Answer the runner's requests, one JSON line each, until stdin closes.

    ``{"name": N}`` times one value of benchmark N (preparing it on first use: calibration
    and warm-ups); ``{"name": N, "memory": true}`` measures its memory instead. The runner
    asks every flavour's worker for one value in turn, so the flavours of a benchmark are
    timed seconds apart, under the same conditions of the machine.
    """
    print(json.dumps({"environment": environment(flavour.name)}), flush=True)
    prepared: dict[str, _Prepared] = {}
    for line in sys.stdin:
        request = json.loads(line)
        name = request["name"]
        record: dict[str, Any] = {"name": name}
        try:
            if name not in prepared:
                prepared[name] = _prepare(flavour, BENCHMARKS[name], server_url, warmups)
                record.update(loops=prepared[name].loops, warmups=prepared[name].warmups)
            if request.get("memory"):
                record.update(_memory(flavour, prepared[name]))
            else:
                record.update(_time_value(flavour, prepared[name], server_url))
        except Exception as exc:  # one broken benchmark must not stop the others
            record["error"] = f"{type(exc).__name__}: {exc}"
        print(json.dumps(record), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triptych.worker", description=__doc__.split("\n")[0])
    parser.add_argument("--flavour", required=True, choices=FLAVOUR_NAMES)
    parser.add_argument("--server-url", default="")
    parser.add_argument(
        "--warmups", type=int, default=1, help="untimed values before the timed ones; the first, one call, calibrates"
    )
    parser.add_argument("--cpu", type=int, help="run on this CPU alone (Linux)")
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    serve(get(args.flavour), args.server_url, args.warmups)
    return 0


if __name__ == "__main__":
    sys.exit(main())
