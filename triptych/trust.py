"""How far to trust this: the measured files behind the report's trust section, written and read.

A results folder may hold, beside the pyperf files, three files that say how far the suite
can be trusted, each written by one command and read here for the page:

- ``faults.json``, the fault matrix (:func:`triptych.faults.matrix`) with the Python, platform
  and library versions it ran with: ``nox -s faults`` (``triptych faults --out DIR``);
- ``stress.json``, the behaviour suite run N times in a row with the other cores busy, and the
  failures per test: ``nox -s stress -- --runs 20`` (written by the noxfile);
- ``fuzz.json``, the differential fuzz tests' examples per test, from Hypothesis's own
  statistics, and whether each passed: ``nox -s fuzz`` (written by ``tests/fuzz_record.py``).

A file that is missing is a figure the page does not show: it names the command instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from triptych import server
from triptych.checkout import commit
from triptych.faults import CALLS, Cell, FaultRow, calls_of, faults_of, matrix
from triptych.results import TRUST_FILES
from triptych.worker import environment

__all__ = [
    "COMMANDS",
    "FaultsFile",
    "FuzzFile",
    "FuzzTest",
    "StressFile",
    "Trust",
    "proofs",
    "read_trust",
    "save_faults",
    "write_faults",
]

FAULTS_FILE, STRESS_FILE, FUZZ_FILE = TRUST_FILES
COMMANDS = {
    FAULTS_FILE: "nox -s faults",
    STRESS_FILE: "nox -s stress -- --runs 20",
    FUZZ_FILE: "nox -s fuzz",
}
"""The command that writes each file into ``results/``."""


def _now() -> str:
    return f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}"


# --- The fault matrix ----------------------------------------------------------------------


def write_faults(out: Path) -> tuple[Path, list[FaultRow]]:
    """Run the fault matrix on every flavour and write it to ``out/faults.json``."""
    started, clock = _now(), time.perf_counter()
    rows = matrix()
    return save_faults(rows, out, started=started, seconds=time.perf_counter() - clock), rows


def save_faults(rows: Sequence[FaultRow], out: Path, *, started: str, seconds: float) -> Path:
    """Write ``rows`` to ``out/faults.json`` with this interpreter's Python, platform and libraries."""
    found = environment("every flavour")  # as the result files record them
    data = {
        "started": started,
        "seconds": round(seconds, 1),
        **{key: found[key] for key in ("python_version", "python_implementation", "platform", "versions")},
        "commit": commit(),
        "rows": [asdict(row) for row in rows],
    }
    path = out / FAULTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class FaultsFile:
    """One ``faults.json``: the rows, and what they ran on."""

    path: str
    started: str
    seconds: float
    python: str
    platform: str
    versions: Mapping[str, str]
    commit: str
    rows: tuple[FaultRow, ...]

    def workloads(self) -> dict[str, list[FaultRow]]:
        found: dict[str, list[FaultRow]] = {}
        for row in self.rows:
            found.setdefault(row.workload, []).append(row)
        return found

    def flavours(self) -> list[str]:
        return list(dict.fromkeys(name for row in self.rows for name in row.observed))


def _faults(path: Path, data: Mapping[str, Any]) -> FaultsFile:
    rows = tuple(
        FaultRow(
            workload=row["workload"],
            call=row["call"],
            fault=row["fault"],
            expected=row["expected"],
            bound=float(row["bound"]),
            observed={name: Cell(str(c["outcome"]), float(c["seconds"])) for name, c in row["observed"].items()},
        )
        for row in data["rows"]
    )
    return FaultsFile(
        path=str(path),
        started=str(data["started"]),
        seconds=float(data["seconds"]),
        python=f"{data['python_implementation']} {data['python_version']}",
        platform=str(data["platform"]),
        versions=dict(data["versions"]),
        commit=str(data["commit"]),
        rows=rows,
    )


# --- Reading a results folder ---------------------------------------------------------------


@dataclass(frozen=True)
class StressFile:
    """One ``stress.json`` (see ``stress`` in noxfile.py)."""

    path: str
    runs: int
    """Runs asked for."""
    tests_per_run: tuple[int, ...]
    """Tests each run that completed collected and ran."""
    failures: Mapping[str, int]
    """Runs each test failed in, by test id."""
    python: str
    started: str
    finished: str
    seconds: float
    commit: str
    busy_cores: int
    command: str


@dataclass(frozen=True)
class FuzzTest:
    test: str
    outcome: str
    """pytest's: ``passed`` or ``failed``."""
    passing: int
    failing: int
    invalid: int
    """Examples Hypothesis ran in its reuse and generate phases, by status (its statistics)."""


@dataclass(frozen=True)
class FuzzFile:
    """One ``fuzz.json`` (see ``tests/fuzz_record.py``)."""

    path: str
    profile: str
    max_examples: int
    python: str
    hypothesis: str
    started: str
    finished: str
    commit: str
    arguments: str
    """pytest's command-line arguments."""
    tests: tuple[FuzzTest, ...]


@dataclass(frozen=True)
class Trust:
    """Every trust file found in the folders given to the page."""

    faults: tuple[FaultsFile, ...] = ()
    stress: tuple[StressFile, ...] = ()
    fuzz: tuple[FuzzFile, ...] = ()
    commands: Mapping[str, str] = field(default_factory=lambda: dict(COMMANDS))


def read_trust(paths: Iterable[Path]) -> Trust:
    """The trust files in the folders ``paths`` (or given as files themselves); ValueError names
    a file that is not what its name says."""
    found: dict[str, list[Path]] = {name: [] for name in TRUST_FILES}
    for path in paths:
        if path.is_dir():
            for name in TRUST_FILES:
                if (path / name).is_file():
                    found[name].append(path / name)
        elif path.name in found:
            found[path.name].append(path)
    return Trust(
        faults=tuple(_read(path, _faults) for path in dict.fromkeys(found[FAULTS_FILE])),
        stress=tuple(_read(path, _stress) for path in dict.fromkeys(found[STRESS_FILE])),
        fuzz=tuple(_read(path, _fuzz) for path in dict.fromkeys(found[FUZZ_FILE])),
    )


T = TypeVar("T")


def _read(path: Path, parse: Callable[[Path, Mapping[str, Any]], T]) -> T:
    try:
        return parse(path, json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path} is not a {path.name} that triptych wrote ({COMMANDS[path.name]}): {exc!r}") from exc


def _stress(path: Path, data: Mapping[str, Any]) -> StressFile:
    return StressFile(
        path=str(path),
        runs=int(data["runs"]),
        tests_per_run=tuple(int(n) for n in data["tests_per_run"]),
        failures={str(test): int(count) for test, count in data["failures"].items()},
        python=str(data["python"]),
        started=str(data["started"]),
        finished=str(data["finished"]),
        seconds=float(data["seconds"]),
        commit=str(data["commit"]),
        busy_cores=int(data["busy_cores"]),
        command=str(data["command"]),
    )


def _fuzz(path: Path, data: Mapping[str, Any]) -> FuzzFile:
    return FuzzFile(
        path=str(path),
        profile=str(data["profile"]),
        max_examples=int(data["max_examples"]),
        python=str(data["python"]),
        hypothesis=str(data["hypothesis"]),
        started=str(data["started"]),
        finished=str(data["finished"]),
        commit=str(data["commit"]),
        arguments=str(data["arguments"]),
        tests=tuple(
            FuzzTest(
                test=str(test["test"]),
                outcome=str(test["outcome"]),
                **{status: int(test["examples"][status]) for status in ("passing", "failing", "invalid")},
            )
            for test in data["tests"]
        ),
    )


# --- What every run of the suite proves -------------------------------------------------------


def proofs() -> Sequence[tuple[str, str]]:
    """What the behaviour suite (``nox -s tests``, run by CI on every push) asserts, each with
    the test file that asserts it; the figures are the code's own constants."""
    return (
        (
            "The fault matrix: "
            + "; ".join(
                f"{workload}, {len(faults_of(workload))} faults against {len(calls_of(workload))} ways of calling it"
                for workload in dict.fromkeys(call.workload for call in CALLS)
            )
            + "; every cell on every flavour: the same outcome, within the bound the caller's timeout sets, "
            "nothing left open.",
            "tests/test_faults.py",
        ),
        (
            f"The loopback server listens on {server.HOST} only: no other address of the machine answers.",
            "tests/test_server.py",
        ),
        (
            f"It refuses with a 400 and a one-line reason, before any work, a body over {server.MAX_BYTES:,} bytes, "
            f"a delay or interval over {server.MAX_WAIT_MS:,} ms, a trickle over {server.MAX_TRICKLE:,} bytes.",
            "tests/test_server.py",
        ),
        (
            f"A request head over {server.MAX_HEAD:,} bytes, garbage bytes or a sender slower than "
            f"{server.HEAD_TIMEOUT:g} s get an error response or a closed connection, never a crash, and the "
            "server answers normally afterwards.",
            "tests/test_server.py",
        ),
        (
            f"Past its cap of open connections ({server.MAX_CONNECTIONS:,} by default) a new one gets a 503 and "
            "is closed; the held ones still answer.",
            "tests/test_server.py",
        ),
    )
