"""The runner: every flavour's benchmarks, timed side by side in fresh worker processes.

The runner starts the loopback server (its own process), then runs rounds. In each round
every flavour gets one fresh worker process (:mod:`triptych.worker`), in its own virtualenv,
and the runner goes through the benchmarks one at a time: for each value it asks every
flavour's worker in turn, in an order that rotates from value to value and round to round.
So the flavours of one benchmark are timed seconds apart, and a drift of the machine lands
on all of them rather than on one; the ratios between flavours are what must hold still.
The workers run on a CPU of their own, away from the server and the progress bar.

How long it measures is set by precision, not by a count: after the profile's
``min_rounds``, a benchmark leaves the rounds once the 95 % interval of each of its ratios
to asyncio is within ``target`` (:mod:`triptych.stats`), or once it has spent its share of
the profile's ``budget`` (the time that benchmarks done early leave is shared among the
others); the run ends when no benchmark is left, after ``max_rounds``, or when the budget
is spent, whichever comes first. So the time goes where the noise is.

After each round, and when interrupted, every flavour's results file
(:mod:`triptych.results`) is rewritten atomically: Ctrl-C (SIGINT, to the runner or to its
whole process group) or SIGTERM loses only the round being timed, and the workers and the
server are gone when the runner returns. A worker that crashes, or that does not answer
within ``answer_timeout`` seconds (it is then killed), is reported by flavour and benchmark
while the others go on.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from triptych import results, stats
from triptych.benchmarks import BENCHMARKS, Profile
from triptych.results import Slot
from triptych.server import LoopbackServer

__all__ = ["Outcome", "run_benchmarks"]


@dataclass(frozen=True)
class Outcome:
    """What a run of the runner left: the result files, and what failed (one line each)."""

    written: list[Path]
    failed: list[str]
    interrupted: bool = False
    """Ctrl-C or SIGTERM stopped the run; ``written`` holds every value measured before."""


ANSWER_TIMEOUT = 300.0
"""Seconds a worker may take to answer one request (a value is about a second, the first
one of a benchmark calibrates and warms up) before it is taken for hung and killed."""


def _worker_command(python: str, flavour: str, profile: Profile, server_url: str, cpu: int | None) -> list[str]:
    command = [python, "-m", "triptych.worker", "--flavour", flavour, "--server-url", server_url]
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

    def __init__(self, command: list[str], stderr: IO[str], answer_timeout: float) -> None:
        self._stderr = stderr
        self._answer_timeout = answer_timeout
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True
        )
        # A thread reads the answers, so that waiting for one can time out.
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read_lines, name="triptych worker reader", daemon=True)
        self._reader.start()
        self.failure = ""
        self._asked = "its first line"

    def _read_lines(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.put(line)
        self._lines.put("")  # end of output: it exited, or was killed

    def read(self) -> dict[str, Any] | None:
        """The worker's next line, or None (and ``failure`` says why) once it has died or hung."""
        if self.failure:
            return None
        try:
            line = self._lines.get(timeout=self._answer_timeout)
        except queue.Empty:
            self._process.kill()
            self.failure = f"worker hung: no answer to {self._asked} within {self._answer_timeout:g} s"
            return None
        if not line:
            self.failure = self._why()
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
        self._asked = request["name"]
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
        self._reader.join(timeout=10)  # it reaches the end of the output once the worker is gone
        if self._process.stdout is not None:
            self._process.stdout.close()


@dataclass
class _Measured:
    """What one flavour's workers answered during the run."""

    environment: dict[str, Any] = field(default_factory=dict)
    records: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    """By benchmark name, one record per round (see :func:`triptych.results.make_run`)."""
    errors: list[str] = field(default_factory=list)

    def values(self, name: str) -> dict[Slot, float]:
        """The values a ratio is taken from (speed-normalised where the kind is), by slot."""
        raw: dict[Slot, float] = {}
        speeds: dict[Slot, float] = {}
        for record in self.records.get(name, []):
            for turn, value in enumerate(record["values"]):
                slot = (record["round"], turn)
                raw[slot] = value
                speeds[slot] = (record["reference_before"][turn] + record["reference_after"][turn]) / 2
        return stats.normalised(raw, speeds) if BENCHMARKS[name].kind in stats.NORMALISED_KINDS else raw

    def readings(self) -> list[float]:
        return [
            seconds
            for records in self.records.values()
            for record in records
            for key in ("reference_before", "reference_after")
            for seconds in record[key]
        ]


def _ratios(measured: dict[str, _Measured], name: str) -> dict[str, stats.Ratio]:
    """Each flavour's ratio to asyncio (to the first flavour when asyncio did not run it)."""
    values = {flavour: found for flavour, m in measured.items() if (found := m.values(name))}
    if not values:
        return {}
    base = "asyncio" if "asyncio" in values else next(iter(values))
    return {flavour: stats.slot_ratio(v, values[base]) for flavour, v in values.items() if flavour != base}


def _precise(measured: dict[str, _Measured], name: str, target: float) -> bool:
    """Whether every ratio of ``name`` to asyncio is known within ``target``."""
    ratios = _ratios(measured, name)
    return bool(ratios) and all(r.precision <= target for r in ratios.values())


def run_benchmarks(
    profile: Profile,
    interpreters: dict[str, str],
    out_dir: Path,
    *,
    tag: str = "",
    console: Console,
    answer_timeout: float = ANSWER_TIMEOUT,
) -> Outcome:
    """Run ``profile`` with each flavour's interpreter; return the files written and what failed."""
    plan = {
        flavour: [name for name in profile.benchmarks if BENCHMARKS[name].runs_on(flavour)] for flavour in interpreters
    }
    measured = {flavour: _Measured() for flavour in interpreters}
    written: dict[str, Path] = {}
    # Values of one benchmark with the same run id and round were timed side by side.
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{os.getpid()}"
    schedule = _Schedule(
        profile, [name for name in profile.benchmarks if any(name in names for names in plan.values())]
    )
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    interrupted = False
    with (
        _sigterm_interrupts(),
        _worker_cpu() as cpu,
        LoopbackServer() as server,
        Progress(*columns, console=console) as progress,
    ):
        task = progress.add_task("measuring", total=profile.budget)
        try:
            for round_number in range(profile.max_rounds):
                active = schedule.active(round_number)
                if not active:
                    break
                schedule.rounds = round_number + 1
                progress.update(task, description=f"round {round_number + 1}: {len(active)} benchmarks")
                commands = {
                    flavour: _worker_command(python, flavour, profile, server.url, cpu)
                    for flavour, python in interpreters.items()
                }
                round_ = _Round(round_number, profile, plan, measured, run_id, schedule, answer_timeout)
                try:
                    round_.run(commands, active, lambda: progress.update(task, completed=schedule.elapsed()))
                finally:
                    written.update(_write(measured, profile, schedule, out_dir, tag))
                schedule.update(round_number, active, lambda name: _precise(measured, name, profile.target))
        except KeyboardInterrupt:
            interrupted = True
            console.print("[yellow]interrupted: keeping every result measured so far[/yellow]")
    noise = stats.noise(reading for m in measured.values() for reading in m.readings())
    _print_summary(console, schedule, noise)
    failed = [f"{flavour}: {error}" for flavour, m in measured.items() for error in dict.fromkeys(m.errors)]
    for line in failed:
        console.print(f"[red]{line}[/red]")
    return Outcome(list(written.values()), failed, interrupted)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """While the run lasts, SIGTERM stops it as Ctrl-C does: the cleanups run, the files stay."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_summary(console: Console, schedule: _Schedule, noise: float | None) -> None:
    short = [name for name in schedule.names if name not in schedule.precise]
    console.print(
        f"measured for {schedule.elapsed():.0f} s in {schedule.rounds} rounds; "
        f"{len(schedule.precise)} of {len(schedule.names)} benchmarks reached ±{schedule.target:.1%}"
        + (f" (not: {', '.join(short)})" if short else "")
    )
    if noise is not None:
        warning = noise > stats.NOISY
        colour = "yellow" if warning else "dim"
        advice = ": a busy or throttled host; expect wide intervals" if warning else ""
        console.print(f"[{colour}]the host's speed varied by {noise:.1%} (reference loop, CV){advice}[/{colour}]")


def _write(
    measured: dict[str, _Measured], profile: Profile, schedule: _Schedule, out_dir: Path, tag: str
) -> dict[str, Path]:
    """Rewrite every flavour's results file with all it measured so far; return them by flavour."""
    noise = stats.noise(reading for m in measured.values() for reading in m.readings())
    names = {name for m in measured.values() for name in m.records}
    ratios = {name: _ratios(measured, name) for name in names}
    written = {}
    for flavour, outcome in measured.items():
        if not outcome.records:  # a flavour with nothing measured keeps no file, old or new
            continue
        runs = {}
        for name, records in outcome.records.items():
            benchmark = BENCHMARKS[name]
            computed: dict[str, float | int | str] = {
                "triptych_profile": profile.name,
                "triptych_target": profile.target,
                "triptych_rounds": schedule.rounds,
            }
            if noise is not None:
                computed["triptych_noise"] = round(noise, 4)
            if (found := ratios[name].get(flavour)) and "asyncio" in measured and measured["asyncio"].records.get(name):
                computed.update(
                    triptych_vs_asyncio=round(found.value, 4),
                    triptych_vs_asyncio_low=round(found.low, 4),
                    triptych_vs_asyncio_high=round(found.high, 4),
                    triptych_normalised=int(benchmark.kind in stats.NORMALISED_KINDS),
                )
            runs[name] = [results.make_run(benchmark, r, outcome.environment, tag, computed) for r in records]
        path = out_dir / results.context(outcome.environment, tag) / f"{flavour}.json"
        results.write(runs, path)
        written[flavour] = path
    return written


@dataclass
class _Schedule:
    """Which benchmarks each round measures, from their precision and the time each has spent."""

    profile: Profile
    names: list[str]
    started: float = field(default_factory=time.monotonic)
    spent: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    precise: set[str] = field(default_factory=set)
    rounds: int = 0

    @property
    def target(self) -> float:
        return self.profile.target

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def out_of_time(self) -> bool:
        return self.elapsed() >= self.profile.budget

    def active(self, round_number: int) -> list[str]:
        """The benchmarks the round measures: all of them for the first ``min_rounds``; then
        those short of the target with time left in their share of the budget."""
        if self.out_of_time():
            return []
        if round_number < self.profile.min_rounds:
            return list(self.names)
        short = [name for name in self.names if name not in self.precise]
        left = self.profile.budget - sum(self.spent[name] for name in self.precise)
        share = left / max(1, len(short))
        return [name for name in short if self.spent[name] < share]

    def update(self, round_number: int, measured: list[str], is_precise: Any) -> None:
        if round_number + 1 >= self.profile.min_rounds:
            self.precise |= {name for name in measured if is_precise(name)}


@dataclass
class _Round:
    """One round: a fresh worker per flavour, and every active benchmark timed across them."""

    number: int
    profile: Profile
    plan: dict[str, list[str]]
    measured: dict[str, _Measured]
    run_id: str
    schedule: _Schedule
    answer_timeout: float

    def run(self, commands: dict[str, list[str]], active: list[str], tick: Any) -> None:
        with contextlib.ExitStack() as stack:
            stderr = {flavour: stack.enter_context(tempfile.TemporaryFile("w+")) for flavour in commands}
            workers: dict[str, _Worker] = {}
            try:
                # One by one inside the try: an interrupt while they start closes those started.
                for flavour, command in commands.items():
                    workers[flavour] = _Worker(command, stderr[flavour], self.answer_timeout)
                for flavour, worker in workers.items():
                    first = worker.read()
                    if first is not None:
                        self.measured[flavour].environment = first["environment"]
                for name in active:
                    if self.schedule.out_of_time():
                        break
                    started = time.monotonic()
                    self._benchmark(name, {f: w for f, w in workers.items() if name in self.plan[f]})
                    self.schedule.spent[name] += time.monotonic() - started
                    tick()
            finally:
                for flavour, worker in workers.items():
                    worker.close()
                    if worker.failure:
                        self.measured[flavour].errors.append(worker.failure)

    def _benchmark(self, name: str, workers: dict[str, _Worker]) -> None:
        """Every value of ``name`` on every flavour, the flavours taking turns; then, in the
        first round, memory (not for the references, which are there for their speed)."""
        benchmark = BENCHMARKS[name]
        memory = self.number == 0 and benchmark.kind != "reference"
        answers: dict[str, list[dict[str, Any]]] = {flavour: [] for flavour in workers}
        flavours = list(workers)
        for index in range(self.profile.values):
            shift = (self.number + index) % len(flavours)
            for flavour in flavours[shift:] + flavours[:shift]:
                if len(answers[flavour]) == index and (answer := self._ask(flavour, workers[flavour], name)):
                    answers[flavour].append(answer)
        for flavour, got in answers.items():
            if len(got) < self.profile.values:
                continue
            record: dict[str, Any] = {
                "run": self.run_id,
                "round": self.number,
                "values": [answer["value"] for answer in got],
                "reference_before": [answer["reference_before"] for answer in got],
                "reference_after": [answer["reference_after"] for answer in got],
                "warmups": got[0]["warmups"],
                "loops": got[0]["loops"],
            }
            if "server_cpu_seconds" in got[0]:
                server = sum(answer["server_cpu_seconds"] for answer in got)
                record["server_cpu_share"] = round(server / sum(answer["seconds"] for answer in got), 3)
            if memory and (found := self._ask(flavour, workers[flavour], name, memory=True)):
                record.update(peak_kib=found["peak_kib"], kib_per_unit=found["kib_per_unit"])
            self.measured[flavour].records[name].append(record)

    def _ask(self, flavour: str, worker: _Worker, name: str, *, memory: bool = False) -> dict[str, Any] | None:
        answer = worker.ask({"name": name, "memory": memory})
        if answer is not None and "error" in answer:
            self.measured[flavour].errors.append(f"{name}: {answer['error']}")
            return None
        return answer
