"""The runner: every flavour's benchmarks, timed side by side in fresh worker processes.

The runner starts the loopback server (its own process), then runs ``rounds`` rounds. In
each round every flavour gets one fresh worker process (:mod:`triptych.worker`), in its own
virtualenv, and the runner goes through the benchmarks one at a time: for each value it
asks every flavour's worker in turn, in an order that rotates from value to value and round
to round. So the flavours of one benchmark are timed seconds apart, and a drift of the
machine lands on all of them rather than on one; the ratios between flavours are what must
hold still. The workers run on a CPU of their own, away from the server and the progress bar.

After each round, and when interrupted, every flavour's results file
(:mod:`triptych.results`) is rewritten atomically: Ctrl-C loses only the benchmark being
timed, and a worker that crashes is reported while the others go on.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pyperf
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from triptych import results
from triptych.benchmarks import BENCHMARKS, Profile
from triptych.server import LoopbackServer

__all__ = ["run_benchmarks"]


@dataclass
class _FlavourResults:
    environment: dict[str, Any] = field(default_factory=dict)
    runs: dict[str, list[pyperf.Run]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)


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
    """Run ``profile`` with each flavour's interpreter; return the result files written."""
    plan = {
        flavour: [name for name in profile.benchmarks if BENCHMARKS[name].runs_on(flavour)] for flavour in interpreters
    }
    outcomes = {flavour: _FlavourResults() for flavour in interpreters}
    written: dict[str, Path] = {}
    # Values of one benchmark with the same run id and round were timed side by side.
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{os.getpid()}"
    total = profile.rounds * sum(len(names) for names in plan.values())
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with _worker_cpu() as cpu, LoopbackServer() as server, Progress(*columns, console=console) as progress:
        task = progress.add_task("benchmarks", total=total)
        try:
            for round_number in range(profile.rounds):
                commands = {
                    flavour: _worker_command(python, flavour, profile, server.url, cpu)
                    for flavour, python in interpreters.items()
                }
                round_ = _Round(round_number, profile, plan, outcomes, tag, progress, task, run_id)
                try:
                    round_.run(commands)
                finally:
                    for flavour, outcome in outcomes.items():
                        if outcome.runs:  # a flavour with nothing measured keeps no file, old or new
                            path = out_dir / results.context(outcome.environment, tag) / f"{flavour}.json"
                            results.write(outcome.runs, path)
                            written[flavour] = path
        except KeyboardInterrupt:
            console.print("[yellow]interrupted: keeping every result measured so far[/yellow]")
    for flavour, outcome in outcomes.items():
        for error in dict.fromkeys(outcome.errors):
            console.print(f"[red]{flavour}: {error}[/red]")
    return list(written.values())


@dataclass
class _Round:
    """One round: a fresh worker per flavour, and every benchmark timed across them."""

    number: int
    profile: Profile
    plan: dict[str, list[str]]
    outcomes: dict[str, _FlavourResults]
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
                    self.outcomes[flavour].environment = first["environment"]
            for name in dict.fromkeys(name for names in self.plan.values() for name in names):
                self._benchmark(name, {flavour: w for flavour, w in workers.items() if name in self.plan[flavour]})
        finally:
            for flavour, worker in workers.items():
                worker.close()
                if worker.failure:
                    self.outcomes[flavour].errors.append(worker.failure)

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
            run = results.make_run(benchmark, record, self.outcomes[flavour].environment, self.tag)
            self.outcomes[flavour].runs[name].append(run)

    def _ask(self, flavour: str, worker: _Worker, name: str, *, memory: bool = False) -> dict[str, Any] | None:
        answer = worker.ask({"name": name, "memory": memory})
        if answer is not None and "error" in answer:
            self.outcomes[flavour].errors.append(f"{name}: {answer['error']}")
            return None
        return answer
