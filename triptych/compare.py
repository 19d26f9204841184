"""Run the benchmarks on every flavour, write pyperf files, and print the comparison.

The runner starts the loopback server (its own process), then runs ``processes`` rounds. In
each round every flavour gets one fresh worker process, in its own virtualenv, and the
runner goes through the benchmarks one at a time: for each value it asks every flavour's
worker in turn, in an order that rotates from value to value and round to round. So the
flavours of one benchmark are timed seconds apart, and a drift of the machine lands on all
of them rather than on one; the ratios between flavours are what must hold still. The
workers run on a CPU of their own, away from the server and the progress bar.

After each round, and when interrupted, every flavour's results file is rewritten
atomically: Ctrl-C loses only the benchmark being timed, and a worker that crashes is
reported while the others go on.

Results are pyperf JSON files, ``results/<context>/<flavour>.json``, with everything that
changes a number in their metadata, so ``python -m pyperf compare_to`` opens them. The
report reads any number of them (several machines, Pythons or library versions) and puts
each context side by side.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import socket
import statistics
import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pyperf
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from triptych.bench import BENCHMARKS, REFERENCE_PROFILES, REFERENCES, Profile
from triptych.flavours import FLAVOUR_NAMES
from triptych.server import LoopbackServer

__all__ = ["ORDER", "TITLES", "Row", "agreement", "load", "report", "run_benchmarks", "standard_rows", "times"]

SERVER_BOUND = 0.8
"""A row whose server used more than this share of a core while it ran is flagged."""


# --- Running -------------------------------------------------------------------------------


@dataclass
class _FlavourResults:
    environment: dict[str, Any] = field(default_factory=dict)
    runs: dict[str, list[pyperf.Run]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)


@functools.cache
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _run_metadata(record: dict[str, Any], environment: dict[str, Any], tag: str) -> dict[str, Any]:
    registry = REFERENCES if environment["flavour"] == "reference" else BENCHMARKS
    benchmark = registry[record["name"]]
    metadata: dict[str, Any] = {
        "name": record["name"],
        "unit": "second",
        "loops": record["loops"],
        "inner_loops": benchmark.n,
        "triptych_context": _context(environment, tag),
        "triptych_flavour": environment["flavour"],
        "triptych_group": benchmark.group,
        "triptych_kind": benchmark.kind,
        "triptych_unit": benchmark.unit,
        "triptych_params": json.dumps(benchmark.params, sort_keys=True),
        "python_version": environment["python_version"],
        "python_implementation": environment["python_implementation"],
        "platform": environment["platform"],
        "cpu_count": environment["cpu_count"],
        "cpu_model_name": _cpu_model(),
        "hostname": socket.gethostname(),
    }
    if environment["cpu_affinity"]:
        metadata["cpu_affinity"] = ",".join(map(str, environment["cpu_affinity"]))
    for package, version in environment["versions"].items():
        metadata[f"{package}_version"] = version
    for key in ("run", "round", "server_cpu_share", "peak_kib", "kib_per_unit", "retained_kib"):
        if key in record:
            metadata[f"triptych_{key}"] = record[key]
    return metadata


def _context(environment: dict[str, Any], tag: str) -> str:
    context = f"{socket.gethostname()}-py{environment['python_version']}"
    return f"{context}-{tag}" if tag else context


def _write_atomically(results: _FlavourResults, path: Path) -> None:
    benchmarks = [pyperf.Benchmark(runs) for runs in results.runs.values()]
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".json")
    os.close(handle)
    pyperf.BenchmarkSuite(benchmarks).dump(temporary, replace=True)
    os.replace(temporary, path)


def _worker_command(python: str, flavour: str, profile: Profile, server_url: str, cpu: int | None) -> list[str]:
    command = [python, "-m", "triptych.bench", "worker", "--flavour", flavour, "--server-url", server_url]
    command += ["--warmups", str(profile.warmups)]
    return command if cpu is None else [*command, "--cpu", str(cpu)]


@contextlib.contextmanager
def _worker_cpu() -> Iterator[int | None]:
    """Keep one CPU for the workers: this runner, and the server it starts, move to the others.

    A worker that shares its core with the server, or with the progress bar, is slowed by
    them at random moments, and one that migrates between cores starts over with cold caches.
    Yields None, and pins nothing, with fewer than two CPUs or where the OS cannot pin.
    """
    if not hasattr(os, "sched_getaffinity"):
        yield None
        return
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        yield None
        return
    os.sched_setaffinity(0, cpus[:-1])
    try:
        yield cpus[-1]
    finally:
        os.sched_setaffinity(0, cpus)


class _Worker:
    """One flavour's worker process for one round: one JSON request and answer at a time."""

    def __init__(self, command: list[str], stderr: IO[str]) -> None:
        self._stderr = stderr
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True
        )
        self.failure = ""

    def read(self) -> dict[str, Any] | None:
        """The worker's next line, or None (and ``failure`` says why) once it has died."""
        assert self._process.stdout is not None
        line = "" if self.failure else self._process.stdout.readline()
        if not line:
            self.failure = self.failure or self._why()
            return None
        try:
            answer: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:  # something in it printed to stdout: stop trusting it
            self._process.kill()
            self.failure = f"worker failed: it printed {line.strip()[:80]!r}"
            return None
        return answer

    def ask(self, request: dict[str, Any]) -> dict[str, Any] | None:
        assert self._process.stdin is not None
        if not self.failure:
            try:
                self._process.stdin.write(json.dumps(request) + "\n")
                self._process.stdin.flush()
            except OSError:  # it died: read() says why
                pass
        return self.read()

    def _why(self) -> str:
        code = self._process.wait()
        self._stderr.seek(0)
        tail = self._stderr.read().strip().splitlines()[-1:] or [f"exit status {code}"]
        return f"worker failed: {tail[0]}"

    def close(self) -> None:
        with contextlib.suppress(OSError):
            assert self._process.stdin is not None
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


def run_benchmarks(
    profile: Profile, interpreters: dict[str, str], out_dir: Path, *, tag: str = "", console: Console
) -> list[Path]:
    """Run ``profile`` with each flavour's interpreter (``"reference"`` for the reference
    rows); return the result files written."""
    plan = {
        flavour: list(REFERENCE_PROFILES[profile.name] if flavour == "reference" else profile.benchmarks)
        for flavour in interpreters
    }
    results = {flavour: _FlavourResults() for flavour in interpreters}
    written: dict[str, Path] = {}
    # Values of one benchmark with the same run id and round were timed side by side.
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{os.getpid()}"
    total = profile.processes * sum(len(names) for names in plan.values())
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with _worker_cpu() as cpu, LoopbackServer() as server, Progress(*columns, console=console) as progress:
        task = progress.add_task("benchmarks", total=total)
        try:
            for round_number in range(profile.processes):
                commands = {
                    flavour: _worker_command(python, flavour, profile, server.url, cpu)
                    for flavour, python in interpreters.items()
                }
                round_ = _Round(round_number, profile, plan, results, tag, progress, task, run_id)
                try:
                    round_.run(commands)
                finally:
                    for flavour, outcome in results.items():
                        if outcome.runs:  # a flavour with nothing measured keeps no file, old or new
                            path = out_dir / _context(outcome.environment, tag) / f"{flavour}.json"
                            _write_atomically(outcome, path)
                            written[flavour] = path
        except KeyboardInterrupt:
            console.print("[yellow]interrupted: keeping every result measured so far[/yellow]")
    for flavour, outcome in results.items():
        for error in dict.fromkeys(outcome.errors):
            console.print(f"[red]{flavour}: {error}[/red]")
    return list(written.values())


@dataclass
class _Round:
    """One round: a fresh worker per flavour, and every benchmark timed across them."""

    number: int
    profile: Profile
    plan: dict[str, list[str]]
    results: dict[str, _FlavourResults]
    tag: str
    progress: Progress
    task: Any
    run_id: str

    def run(self, commands: dict[str, list[str]]) -> None:
        with contextlib.ExitStack() as stack:
            stderr = {flavour: stack.enter_context(tempfile.TemporaryFile("w+")) for flavour in commands}
            workers = {flavour: _Worker(command, stderr[flavour]) for flavour, command in commands.items()}
            self._run(workers)

    def _run(self, workers: dict[str, _Worker]) -> None:
        try:
            for flavour, worker in workers.items():
                first = worker.read()
                if first is not None:
                    self.results[flavour].environment = first["environment"]
            for name in dict.fromkeys(name for names in self.plan.values() for name in names):
                self._benchmark(name, {flavour: w for flavour, w in workers.items() if name in self.plan[flavour]})
        finally:
            for flavour, worker in workers.items():
                worker.close()
                if worker.failure:
                    self.results[flavour].errors.append(worker.failure)

    def _benchmark(self, name: str, workers: dict[str, _Worker]) -> None:
        """Every value of ``name`` on every flavour, the flavours taking turns; then, in the
        first round, memory (not for the reference rows, which are there for their speed)."""
        memory = self.number == 0 and (BENCHMARKS.get(name) or REFERENCES[name]).kind != "reference"
        answers: dict[str, list[dict[str, Any]]] = {flavour: [] for flavour in workers}
        flavours = list(workers)
        for index in range(self.profile.values):
            shift = (self.number + index) % len(flavours)
            for flavour in flavours[shift:] + flavours[:shift]:
                if len(answers[flavour]) == index and (answer := self._ask(flavour, workers[flavour], name)):
                    answers[flavour].append(answer)
        for flavour, got in answers.items():
            self.progress.advance(self.task)
            if len(got) < self.profile.values:
                continue
            record = {
                "name": name,
                "run": self.run_id,
                "round": self.number,
                "values": [answer["value"] for answer in got],
                "warmups": [tuple(pair) for pair in got[0]["warmups"]],
                "loops": got[0]["loops"],
            }
            if "server_cpu_seconds" in got[0]:
                server = sum(answer["server_cpu_seconds"] for answer in got)
                record["server_cpu_share"] = round(server / sum(answer["seconds"] for answer in got), 3)
            if memory and (measured := self._ask(flavour, workers[flavour], name, memory=True)):
                record.update(measured)
            metadata = _run_metadata(record, self.results[flavour].environment, self.tag)
            run = pyperf.Run(record["values"], warmups=record["warmups"], metadata=metadata, collect_metadata=False)
            self.results[flavour].runs[name].append(run)

    def _ask(self, flavour: str, worker: _Worker, name: str, *, memory: bool = False) -> dict[str, Any] | None:
        answer = worker.ask({"name": name, "memory": memory})
        if answer is not None and "error" in answer:
            self.results[flavour].errors.append(f"{name}: {answer['error']}")
            return None
        return answer


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
    run: str = ""
    """Which run of the runner measured it."""
    slots: dict[tuple[int, int], float] = field(default_factory=dict)
    """Each value by (round, turn): within a run, the flavours' values in a slot were timed side by side."""


def _files(paths: Iterable[Path]) -> list[Path]:
    found = []
    for path in paths:
        if not path.exists():
            raise ValueError(f"no such file or folder: {path}")
        found += sorted(path.rglob("*.json")) if path.is_dir() else [path]
    return [path for path in found if not path.name.startswith(".")]


def _suite(path: Path) -> pyperf.BenchmarkSuite:
    try:
        suite = pyperf.BenchmarkSuite.load(str(path))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a pyperf file: {exc}") from exc
    if any("triptych_context" not in benchmark.get_metadata() for benchmark in suite.get_benchmarks()):
        raise ValueError(f"{path} is a pyperf file, but not one that triptych wrote")
    return suite


def load(paths: Iterable[Path]) -> list[Row]:
    """Every benchmark in the result files or folders ``paths``; ValueError names a path
    that is missing or holds something else."""
    rows = []
    for path in _files(paths):
        for benchmark in _suite(path).get_benchmarks():
            first = benchmark.get_runs()[0].get_metadata()
            values = benchmark.get_values()
            quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
            median = benchmark.median()
            shares = [run.get_metadata().get("triptych_server_cpu_share") for run in benchmark.get_runs()]
            slots = {
                (int(run.get_metadata().get("triptych_round", number)), turn): value
                for number, run in enumerate(benchmark.get_runs())
                for turn, value in enumerate(run.values)
            }
            versions = {
                key.removesuffix("_version"): str(value) for key, value in first.items() if key.endswith("_version")
            }
            rows.append(
                Row(
                    context=str(first["triptych_context"]),
                    flavour=str(first["triptych_flavour"]),
                    group=str(first["triptych_group"]),
                    kind=str(first["triptych_kind"]),
                    unit=str(first["triptych_unit"]),
                    n=int(json.loads(str(first["triptych_params"]))["n"]),
                    median=median,
                    spread=(quartiles[2] - quartiles[0]) / 2 / median,
                    values=len(values),
                    kib_per_unit=first.get("triptych_kib_per_unit"),
                    server_cpu_share=max((s for s in shares if s is not None), default=None),
                    versions=versions,
                    run=str(first.get("triptych_run", "")),
                    slots=slots,
                )
            )
    return rows


# --- Reporting -----------------------------------------------------------------------------

ORDER = [*FLAVOUR_NAMES, "reference"]
TITLES = {
    "spawn_join": "Spawn and join N tasks",
    "checkpoints": "A bare checkpoint",
    "handoff": "Queue/channel hand-off, 1 producer to 4 consumers, buffer 64",
    "handoff+checkpoint": "The same hand-off with a checkpoint on every put and get",
    "lock_handoff": "Lock hand-off under contention, 100 tasks",
    "timeout_scope": "A timeout scope that never fires",
    "cancel_waiting": "Spawn N waiting tasks, cancel them all, join",
    "fanout": "HTTP fan-out with httpx, 100 in flight",
    "pipeline": "Producer/consumer pipeline, 1 producer, 4 consumers, buffer 64",
    "timeouts": "Jobs under a per-job timeout and a deadline, 100 at a time, shielded cleanup",
    "cancellation": "All-or-nothing: one job fails, the others are cancelled and cleaned up",
    "locks": "Transfers under per-account locks, 10 accounts",
}


def _microseconds(seconds: float) -> str:
    micro = seconds * 1e6
    return f"{micro:,.2f}" if micro < 100 else f"{micro:,.0f}"


def _label(row: Row) -> str:
    if row.kind != "reference":
        return row.flavour
    if row.group == "httpx-serial":
        return f"ref: httpx, 1 in flight ({row.flavour})"
    return f"ref: aiohttp on {row.group.removeprefix('aiohttp-')}"


def times(row: Row, other: Row) -> float:
    """How many times as long ``row`` takes as ``other``.

    For the same benchmark in the same run, the median of the ratios of values timed side by
    side (same round, same turn): a slowdown of the machine that lasts a few seconds hits
    both values of a pair and leaves their ratio alone. Otherwise, the ratio of the medians.
    """
    side_by_side = row.run and row.run == other.run and (row.group, row.n) == (other.group, other.n)
    pairs = row.slots.keys() & other.slots.keys() if side_by_side else set()
    if not pairs:
        return row.median / other.median
    return statistics.median(row.slots[pair] / other.slots[pair] for pair in pairs)


def _ratio(row: Row, baseline: Row | None) -> str:
    return f"{times(row, baseline):.2f}x" if baseline else "-"


def _sentence_generic(rows: list[Row]) -> str:
    flavoured = [r for r in rows if r.kind != "reference"]
    if len(flavoured) < 2:
        return ""
    fastest, slowest = min(flavoured, key=lambda r: r.median), max(flavoured, key=lambda r: r.median)
    parts = [
        f"{fastest.flavour} is fastest at {_microseconds(fastest.median)} µs per {fastest.unit}; "
        f"{slowest.flavour} takes {times(slowest, fastest):.1f}x as long"
    ]
    by = {r.flavour: r for r in flavoured}
    if "anyio-asyncio" in by and "asyncio" in by:
        parts.append(f"AnyIO costs {times(by['anyio-asyncio'], by['asyncio']):.1f}x raw asyncio on the same loop")
    if "anyio-trio" in by and "trio" in by:
        parts.append(f"{times(by['anyio-trio'], by['trio']):.1f}x raw Trio")
    if "asyncio+uvloop" in by and "asyncio" in by:
        gain = times(by["asyncio"], by["asyncio+uvloop"])
        parts.append(f"uvloop makes raw asyncio {gain:.1f}x as fast")
    return "; ".join(parts) + "."


def _sentence_fanout(rows: list[Row]) -> str:
    flavoured = [r for r in rows if r.kind != "reference"]
    references = {r.group: r for r in rows if r.group.startswith("aiohttp")}
    if not flavoured:
        return ""
    fastest, slowest = min(flavoured, key=lambda r: r.median), max(flavoured, key=lambda r: r.median)
    spread = times(slowest, fastest) - 1
    sentence = (
        f"httpx, not the loop, limits fan-out: every flavour is within {spread:.0%} of the others"
        if spread < 0.25
        else f"The loop matters here: {fastest.flavour} is {1 + spread:.1f}x as fast as {slowest.flavour}"
    )
    if references:
        best = min(references.values(), key=lambda r: r.median)
        sentence += (
            f", and aiohttp ({best.group.removeprefix('aiohttp-')}) is {fastest.median / best.median:.1f}x faster"
        )
    serial = {r.flavour: r for r in rows if r.group == "httpx-serial"}
    floors = [f.median / serial[f.flavour].median for f in flavoured if f.flavour in serial]
    if floors:
        sentence += (
            f". With 100 in flight each flavour runs at {1 / max(floors):.2f}-{1 / min(floors):.2f}x "
            "httpx's own one-at-a-time rate"
        )
    return sentence + "."


def _flag(row: Row) -> str:
    if row.server_cpu_share is not None and row.server_cpu_share > SERVER_BOUND:
        return f"server-bound ({row.server_cpu_share:.0%} of a core)"
    return ""


def _single_table(context: str, group: str, n: int, rows: list[Row], console: Console) -> None:
    rows = sorted(rows, key=lambda r: (r.kind == "reference", ORDER.index(r.flavour), r.group))
    base = next((r for r in rows if r.flavour == "asyncio" and r.group == group), None)
    unit = rows[0].unit
    table = Table(title=f"{TITLES.get(group, group)} (n={n:,}) [{context}]", title_justify="left")
    for column in ("flavour", f"µs/{unit}", "spread", "vs asyncio", f"KiB/{unit}", "note"):
        table.add_column(column, justify="left" if column in ("flavour", "note") else "right", no_wrap=True)
    for row in rows:
        memory = f"{row.kib_per_unit:.2f}" if row.kib_per_unit is not None else "-"
        table.add_row(
            _label(row), _microseconds(row.median), f"±{row.spread:.1%}", _ratio(row, base), memory, _flag(row)
        )
    console.print(table)
    sentence = _sentence_fanout(rows) if group == "fanout" else _sentence_generic(rows)
    if sentence:
        console.print(f"  {sentence}\n")


def _scale_table(context: str, group: str, rows: list[Row], console: Console) -> None:
    sizes = sorted({r.n for r in rows})
    unit = rows[0].unit
    table = Table(title=f"Scale: {TITLES.get(group, group)} [{context}]", title_justify="left")
    table.add_column("flavour", no_wrap=True)
    for n in sizes:
        table.add_column(f"µs/{unit} N={n:,}", justify="right")
    for n in sizes:
        table.add_column(f"KiB/{unit} N={n:,}", justify="right")
    growth = {}
    for flavour in [f for f in ORDER if any(r.flavour == f for r in rows)]:
        by_n = {r.n: r for r in rows if r.flavour == flavour}
        cells = [_microseconds(by_n[n].median) if n in by_n else "-" for n in sizes]
        cells += [
            f"{by_n[n].kib_per_unit:.2f}" if n in by_n and by_n[n].kib_per_unit is not None else "-" for n in sizes
        ]
        table.add_row(flavour, *cells)
        if sizes[0] in by_n and sizes[-1] in by_n:
            growth[flavour] = by_n[sizes[-1]].median / by_n[sizes[0]].median
    console.print(table)
    if growth:
        most, least = max(growth, key=lambda f: growth[f]), min(growth, key=lambda f: growth[f])
        console.print(
            f"  At N={sizes[-1]:,} the cost per {unit} is {growth[least]:.1f}x that at N={sizes[0]:,} on {least}, "
            f"up to {growth[most]:.1f}x on {most}.\n"
        )


def _across_contexts(rows: list[Row], console: Console) -> None:
    contexts = sorted({r.context for r in rows})
    if len(contexts) < 2:
        return
    keys = sorted({(r.group, r.n) for r in rows if r.kind != "reference"})
    for flavour in [f for f in FLAVOUR_NAMES if any(r.flavour == f for r in rows)]:
        table = Table(title=f"{flavour} across contexts: µs per unit", title_justify="left")
        table.add_column("benchmark", no_wrap=True)
        for context in contexts:
            table.add_column(context, justify="right")
        table.add_column("last / first", justify="right")
        index = {(r.context, r.group, r.n): r for r in rows if r.flavour == flavour}
        for group, n in keys:
            found = [index.get((context, group, n)) for context in contexts]
            if all(r is None for r in found):
                continue
            cells = [_microseconds(r.median) if r else "-" for r in found]
            first, last = found[0], found[-1]
            change = f"{last.median / first.median:.2f}x" if first and last else "-"
            table.add_row(f"{group} n={n:,}", *cells, change)
        console.print(table)
    console.print()


def report(rows: list[Row], console: Console) -> None:
    """Print a table per benchmark and context, each followed by what its numbers say."""
    by_context: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_context[row.context].append(row)
    for context, context_rows in sorted(by_context.items()):
        for table_rows in standard_rows(context_rows):
            group, n = table_rows[0].group, table_rows[0].n
            series = [r for r in context_rows if r.group == group]
            if len({r.n for r in series}) > 1:
                _scale_table(context, group, series, console)
            _single_table(context, group, n, table_rows, console)
        # Each flavour's virtualenv has only its own libraries: list what any of them had.
        versions = {package: version for row in context_rows for package, version in row.versions.items()}
        console.print(f"[dim]{context}: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) + "[/dim]\n")
    _across_contexts(rows, console)


def standard_rows(rows: list[Row]) -> list[list[Row]]:
    """One context's rows as one list per benchmark, at its standard size (the largest; for
    fan-out, the size the aiohttp references ran at), the fan-out with its reference rows."""
    groups: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        groups[row.group].append(row)
    fanout_n = {r.n for r in groups.get("fanout", [])}
    references = [r for r in rows if r.kind == "reference"]
    tables = []
    for group, group_rows in groups.items():
        if group.startswith("aiohttp") or group == "httpx-serial":
            continue
        sizes = {r.n for r in group_rows}
        standard = max(sizes) if group != "fanout" else _standard_fanout(fanout_n, references)
        extra = references if group == "fanout" else []
        tables.append([r for r in group_rows if r.n == standard] + extra)
    return tables


def _ratios_to_asyncio(rows: list[Row]) -> dict[tuple[str, str, int], float]:
    by_key = {(r.flavour, r.group, r.n): r for r in rows}
    return {
        key: times(row, by_key[("asyncio", *key[1:])])
        for key, row in by_key.items()
        if key[0] != "asyncio" and ("asyncio", *key[1:]) in by_key
    }


def agreement(first: list[Row], second: list[Row], console: Console, *, within: float = 0.05) -> bool:
    """Print how far apart two runs put each ratio to asyncio; True if every one is ``within``.

    The ratios are the report's "vs asyncio" column: how reproducible the comparison is.
    """
    for rows in (first, second):
        if len({r.context for r in rows}) > 1:
            raise ValueError("each side must hold the results of one run, in one context")
    ratios = [_ratios_to_asyncio(rows) for rows in (first, second)]
    apart = {key: abs(ratios[0][key] / ratios[1][key] - 1) for key in ratios[0].keys() & ratios[1].keys()}
    if not apart:
        raise ValueError("the two runs have no benchmark and flavour in common")
    table = Table(title="The ratios to asyncio that differ most between the two runs", title_justify="left")
    for column in ("flavour", "benchmark", "first", "second", "apart"):
        table.add_column(column, justify="left" if column in ("flavour", "benchmark") else "right", no_wrap=True)
    worst = sorted(apart, key=lambda key: -apart[key])
    for key in worst[:10]:
        flavour, group, n = key
        table.add_row(
            flavour, f"{group} n={n:,}", f"{ratios[0][key]:.3f}x", f"{ratios[1][key]:.3f}x", f"{apart[key]:.1%}"
        )
    console.print(table)
    agreeing = sum(distance <= within for distance in apart.values())
    console.print(
        f"{agreeing} of {len(apart)} ratios to asyncio agree within {within:.0%}; "
        f"the furthest apart differ by {apart[worst[0]]:.1%}."
    )
    return agreeing == len(apart)


def _standard_fanout(sizes: set[int], references: list[Row]) -> int:
    aiohttp = {r.n for r in references if r.group.startswith("aiohttp")}
    common = sizes & aiohttp
    if common:
        return max(common)
    under = [n for n in sizes if n <= 2000]
    return max(under) if under else min(sizes)
