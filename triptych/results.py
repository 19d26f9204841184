"""The result files: pyperf JSON written by the runner, read back as one row per benchmark.

Layout: ``<out>/<context>/<flavour>.json``, one file per flavour, where ``<context>`` is
``<hostname>-py<python version>[-<tag>]``. Each file is a pyperf ``BenchmarkSuite``
(``python -m pyperf compare_to`` opens it) with one pyperf benchmark per triptych benchmark
(named ``<group>[n=<n>]``, e.g. ``spawn_join[n=10000]``) and one pyperf run per round. A
run's values are seconds per unit; its warm-ups are ``(loops, seconds per unit)`` pairs.

Metadata of every run (pyperf's own keys, then triptych's):

- ``name``, ``unit`` (``second``), ``loops`` (calls per value), ``inner_loops`` (``n``,
  units per call), ``python_version``, ``python_implementation``, ``platform``,
  ``cpu_count``, ``cpu_model_name``, ``hostname``, ``cpu_affinity`` (the CPU the worker was
  pinned to, when it was), ``<package>_version`` for every library installed in the worker;
- ``triptych_context``, ``triptych_flavour``, ``triptych_group``, ``triptych_kind``
  (``primitive``, ``workload`` or ``reference``), ``triptych_clock`` (``cpu``: the values
  are the worker's CPU seconds, as for the primitives; ``wall``: wall-clock seconds; see
  :attr:`Benchmark.cpu_timed <triptych.benchmarks.Benchmark.cpu_timed>`), ``triptych_unit`` (what ``n`` counts),
  ``triptych_title`` (built from the parameters), ``triptych_install`` (``locked``: the
  packages pinned in ``locks/constraints.txt``; ``newest``; or ``as installed``),
  ``triptych_params`` (JSON: every parameter, ``n`` included), ``triptych_reference_for``
  (a reference's benchmark group; only on references);
- ``triptych_run`` (one id per run of the runner) and ``triptych_round``: values of one
  benchmark with the same run and round, at the same position, were timed side by side on
  every flavour, so they can be paired;
- in the first round only, ``triptych_peak_kib`` and ``triptych_kib_per_unit`` (tracemalloc
  peak of one call; not for references);
- for benchmarks that use the loopback server, ``triptych_server_cpu_share`` (the server's
  CPU seconds over the values' wall seconds);
- the host's speed around each value: ``triptych_reference_before`` and
  ``triptych_reference_after``, the seconds a fixed pure-Python loop took right before and
  right after each value, space-separated, one per value in order. A value divided by the
  mean of its two is its speed-normalised value (:func:`triptych.stats.normalised`);
- computed by the runner over the whole run each time it writes the files:
  ``triptych_noise`` (the coefficient of variation of every reference time of the run, on
  every flavour), and for every flavour but asyncio, where asyncio ran too,
  ``triptych_vs_asyncio``, ``triptych_vs_asyncio_low`` and ``triptych_vs_asyncio_high``
  (the ratio to asyncio and its 95 % interval) and ``triptych_normalised`` (1 when that
  ratio is of speed-normalised values, else 0);
- ``triptych_profile``, ``triptych_target`` (the precision aimed at: each ratio's interval
  within ± this share) and ``triptych_rounds`` (rounds run).
"""

from __future__ import annotations

import functools
import json
import os
import platform
import socket
import statistics
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyperf

from triptych.benchmarks import Benchmark

__all__ = ["TRUST_FILES", "Row", "Slot", "context", "files", "load", "make_run", "run_metadata", "write"]

TRUST_FILES = ("faults.json", "stress.json", "fuzz.json")
"""Files a results folder may hold beside the pyperf files, that are not results: the fault
matrix, the stress and the fuzz runs (:mod:`triptych.trust`)."""
Slot = tuple[int, int]
"""(round, position in the round): within a run, the flavours' values in one slot were timed side by side."""


# --- Writing -------------------------------------------------------------------------------


@functools.cache
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def context(environment: Mapping[str, Any], tag: str) -> str:
    """The name of the folder that holds one machine's, Python's and tag's results."""
    name = f"{socket.gethostname()}-py{environment['python_version']}"
    return f"{name}-{tag}" if tag else name


def make_run(
    benchmark: Benchmark,
    record: Mapping[str, Any],
    environment: Mapping[str, Any],
    tag: str,
    computed: Mapping[str, float | int | str],
) -> pyperf.Run:
    """One round's values of ``benchmark``, with everything that changes a number as metadata.

    ``record`` holds ``values``, ``warmups``, ``loops``, ``run``, ``round``,
    ``reference_before`` and ``reference_after`` and, where they were measured,
    ``server_cpu_share``, ``peak_kib`` and ``kib_per_unit``; ``computed`` holds the
    ``triptych_*`` figures computed over the run (see the module docstring).
    """
    metadata: dict[str, Any] = {
        "name": benchmark.name,
        "unit": "second",
        "loops": record["loops"],
        "inner_loops": benchmark.n,
        "triptych_context": context(environment, tag),
        "triptych_flavour": environment["flavour"],
        "triptych_group": benchmark.group,
        "triptych_kind": benchmark.kind,
        "triptych_clock": "cpu" if benchmark.cpu_timed else "wall",
        "triptych_unit": benchmark.unit,
        "triptych_title": benchmark.title,
        "triptych_params": json.dumps(dict(benchmark.params), sort_keys=True),
        "python_version": environment["python_version"],
        "python_implementation": environment["python_implementation"],
        "platform": environment["platform"],
        "cpu_count": environment["cpu_count"],
        "cpu_model_name": _cpu_model(),
        "hostname": socket.gethostname(),
    }
    if benchmark.reference_for:
        metadata["triptych_reference_for"] = benchmark.reference_for
    if environment["cpu_affinity"]:
        metadata["cpu_affinity"] = ",".join(map(str, environment["cpu_affinity"]))
    for package, version in environment["versions"].items():
        metadata[f"{package}_version"] = version
    metadata["triptych_install"] = environment.get("install", "as installed")
    for key in ("run", "round", "server_cpu_share", "peak_kib", "kib_per_unit"):
        if key in record:
            metadata[f"triptych_{key}"] = record[key]
    for key in ("reference_before", "reference_after"):
        metadata[f"triptych_{key}"] = " ".join(f"{seconds:.6g}" for seconds in record[key])
    metadata.update(computed)
    warmups = [tuple(pair) for pair in record["warmups"]]
    return pyperf.Run(record["values"], warmups=warmups, metadata=metadata, collect_metadata=False)


def write(runs: Mapping[str, list[pyperf.Run]], path: Path) -> None:
    """Write one flavour's runs, by benchmark name, to ``path`` atomically: a reader (or an
    interrupted run) sees the old file or the new one, never half of one."""
    benchmarks = [pyperf.Benchmark(list(benchmark_runs)) for benchmark_runs in runs.values()]
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".json")
    os.close(handle)
    pyperf.BenchmarkSuite(benchmarks).dump(temporary, replace=True)
    os.replace(temporary, path)


# --- Reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One benchmark of one flavour in one context, summarised."""

    context: str
    flavour: str
    group: str
    kind: str
    unit: str
    n: int
    median: float
    """Seconds per unit."""
    spread: float
    """Half the inter-quartile range, as a fraction of the median."""
    values: int
    kib_per_unit: float | None
    server_cpu_share: float | None
    versions: dict[str, str]
    install: str = "as installed"
    """How the packages were chosen: ``locked``, ``newest`` or ``as installed``."""
    run: str = ""
    """Which run of the runner measured it."""
    slots: dict[Slot, float] = field(default_factory=dict)
    """Each value (seconds per unit) by its slot."""
    speeds: dict[Slot, float] = field(default_factory=dict)
    """The reference loop's mean time around each value, by slot (none in files from before it was recorded)."""
    noise: float | None = None
    """The host's variation during the run (``triptych_noise``)."""
    title: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    reference_for: str = ""
    vs_asyncio: tuple[float, float, float] | None = None
    """The ratio to asyncio and its 95 % interval as the runner computed them over the run
    (``triptych_vs_asyncio``, ``_low``, ``_high``); None where the file carries none."""


def files(paths: Iterable[Path]) -> list[Path]:
    """The result files in the files or folders ``paths`` (not the :data:`TRUST_FILES`);
    ValueError names a path that is missing."""
    found = []
    for path in paths:
        if not path.exists():
            raise ValueError(f"no such file or folder: {path}")
        found += sorted(path.rglob("*.json")) if path.is_dir() else [path]
    return [path for path in found if not path.name.startswith(".") and path.name not in TRUST_FILES]


def _suite(path: Path) -> pyperf.BenchmarkSuite:
    try:
        suite = pyperf.BenchmarkSuite.load(str(path))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a pyperf file: {exc}") from exc
    if any("triptych_context" not in benchmark.get_metadata() for benchmark in suite.get_benchmarks()):
        raise ValueError(f"{path} is a pyperf file, but not one that triptych wrote")
    return suite


def _row(benchmark: pyperf.Benchmark) -> Row:
    first = benchmark.get_runs()[0].get_metadata()
    values = benchmark.get_values()
    quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    median = benchmark.median()
    shares = [run.get_metadata().get("triptych_server_cpu_share") for run in benchmark.get_runs()]
    slots: dict[Slot, float] = {}
    speeds: dict[Slot, float] = {}
    for number, run in enumerate(benchmark.get_runs()):
        metadata = run.get_metadata()
        round_ = int(metadata.get("triptych_round", number))
        before = str(metadata.get("triptych_reference_before", "")).split()
        after = str(metadata.get("triptych_reference_after", "")).split()
        for turn, value in enumerate(run.values):
            slots[round_, turn] = value
            if turn < len(before) and turn < len(after):
                speeds[round_, turn] = (float(before[turn]) + float(after[turn])) / 2
    versions = {
        key.removesuffix("_version"): str(value)
        for key, value in first.items()
        if key.endswith("_version") and key != "python_version"
    }
    params = json.loads(str(first["triptych_params"]))
    return Row(
        context=str(first["triptych_context"]),
        flavour=str(first["triptych_flavour"]),
        group=str(first["triptych_group"]),
        kind=str(first["triptych_kind"]),
        unit=str(first["triptych_unit"]),
        n=int(params["n"]),
        median=median,
        spread=(quartiles[2] - quartiles[0]) / 2 / median,
        values=len(values),
        kib_per_unit=first.get("triptych_kib_per_unit"),
        server_cpu_share=max((s for s in shares if s is not None), default=None),
        versions=versions,
        install=str(first.get("triptych_install", "as installed")),
        run=str(first.get("triptych_run", "")),
        slots=slots,
        speeds=speeds,
        noise=first.get("triptych_noise"),
        title=str(first.get("triptych_title", first["triptych_group"])),
        params=params,
        reference_for=str(first.get("triptych_reference_for", "")),
        vs_asyncio=_vs_asyncio(first),
    )


def _vs_asyncio(metadata: dict[str, Any]) -> tuple[float, float, float] | None:
    keys = ("triptych_vs_asyncio", "triptych_vs_asyncio_low", "triptych_vs_asyncio_high")
    if not all(key in metadata for key in keys):
        return None
    value, low, high = (float(metadata[key]) for key in keys)
    return value, low, high


def load(paths: Iterable[Path]) -> list[Row]:
    """Every benchmark in the result files or folders ``paths``; ValueError names a path
    that is missing or holds something else."""
    return [_row(benchmark) for path in files(paths) for benchmark in _suite(path).get_benchmarks()]


def run_metadata(path: Path) -> dict[str, Any]:
    """The metadata of the first run in the result file ``path``: the machine, Python, run and
    profile that every run of the file shares (see the module docstring)."""
    metadata: dict[str, Any] = _suite(path).get_benchmarks()[0].get_runs()[0].get_metadata()
    return metadata
