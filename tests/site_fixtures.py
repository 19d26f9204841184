"""Fixed result sets for the report page's tests, written by the runner's own writer.

Each quick-profile benchmark gets 6 rounds of 2 values per flavour, taken "side by side"
(same run, same slots), with a steady host (the reference loop reads the same time around
every value), so the ratios the files carry can be worked out by hand from the same numbers.
The files go through :func:`triptych.results.make_run` and :func:`triptych.results.write`,
as ``triptych bench`` writes them, with the ratios to asyncio computed as the runner does.
"""

from __future__ import annotations

import functools
import json
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import pyperf

from triptych import results, stats
from triptych.benchmarks import BENCHMARKS, PROFILES
from triptych.faults import FAULTS, Cell, FaultRow, bound_of, calls_of
from triptych.flavours import FLAVOUR_NAMES
from triptych.results import Slot
from triptych.trust import save_faults

FIXTURES = Path(__file__).parent / "fixtures"
ROUNDS, VALUES = 6, 2
RUN = "20250102T030405Z-1"
STEADY = (1.0,) * (ROUNDS * VALUES)
NOISY = (0.8, 1.25) * ROUNDS
"""Paired ratios on both sides of 1.0 in every round: a 95 % interval that holds 1.0."""
REFERENCE_SECONDS = 0.002
"""The reference loop's time around every value: a host whose speed does not drift."""
HOST = "fixture"

BASE_MICROSECONDS = 10.0
"""µs per unit on asyncio for every benchmark; each flavour takes its factor times that."""
AIOHTTP = 0.25
"""aiohttp's time per request, as a multiple of asyncio's httpx fan-out."""
SERIAL = 4.0
"""httpx one request at a time, as a multiple of the flavour's fan-out with 100 in flight."""


def catalogue() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "divergences.json").read_text())
    return data


def _environment(flavour: str, python: str, anyio: str) -> dict[str, Any]:
    return {
        "flavour": flavour,
        "python_version": python,
        "python_implementation": "CPython",
        "platform": "Linux-fixture",
        "cpu_count": 2,
        "cpu_affinity": [1],
        "versions": {"anyio": anyio, "httpcore": "1.0.9", "httpx": "0.28.1"},
    }


def write_results(
    folder: Path,
    factors: Mapping[str, float],
    *,
    tag: str = "",
    wobble: Mapping[tuple[str, str], Sequence[float]] | None = None,
    anyio: str = "4.16.0",
) -> list[Path]:
    """One result file per flavour in ``factors`` (its time as a multiple of asyncio's), for
    every benchmark of the quick profile that runs on it, references included, in the context
    ``fixture-py3.11.7[-tag]``. ``wobble[(group, flavour)]`` multiplies its values one by one."""
    wobble = wobble or {}
    values: dict[str, dict[str, list[float]]] = {}
    for name in PROFILES["quick"].benchmarks:
        benchmark = BENCHMARKS[name]
        factor = {"aiohttp": AIOHTTP, "httpx-serial": SERIAL}.get(benchmark.group, 1.0)
        for flavour, scale in factors.items():
            if benchmark.runs_on(flavour):
                pattern = wobble.get((benchmark.group, flavour), STEADY)
                seconds = [BASE_MICROSECONDS * 1e-6 * scale * factor * w for w in pattern]
                values.setdefault(flavour, {})[name] = seconds
    written = []
    with mock.patch.object(socket, "gethostname", return_value=HOST):
        for flavour, by_name in values.items():
            environment = _environment(flavour, "3.11.7", anyio)
            runs: dict[str, list[pyperf.Run]] = {}
            for name, seconds in by_name.items():
                benchmark = BENCHMARKS[name]
                computed = _computed(flavour, name, values)
                runs[name] = [
                    results.make_run(benchmark, _record(seconds, round_, benchmark.kind), environment, tag, computed)
                    for round_ in range(ROUNDS)
                ]
            path = folder / results.context(environment, tag) / f"{flavour}.json"
            results.write(runs, path)
            written.append(path)
    return written


def _record(seconds: list[float], round_: int, kind: str) -> dict[str, Any]:
    mine = seconds[round_ * VALUES : (round_ + 1) * VALUES]
    record: dict[str, Any] = {
        "values": mine,
        "warmups": [(1, mine[0])],
        "loops": 1,
        "run": RUN,
        "round": round_,
        "reference_before": [REFERENCE_SECONDS] * VALUES,
        "reference_after": [REFERENCE_SECONDS] * VALUES,
    }
    if round_ == 0 and kind != "reference":
        record["kib_per_unit"] = 0.5 * mine[0] / (BASE_MICROSECONDS * 1e-6)
    return record


def _slots(seconds: Sequence[float]) -> dict[Slot, float]:
    return {(index // VALUES, index % VALUES): value for index, value in enumerate(seconds)}


@functools.cache
def _ratio(first: tuple[float, ...], second: tuple[float, ...]) -> stats.Ratio:
    # Most pages are built from the same figures: their bootstrap is done once per process.
    return stats.slot_ratio(_slots(first), _slots(second))


def _computed(flavour: str, name: str, values: Mapping[str, Mapping[str, list[float]]]) -> dict[str, float | int | str]:
    """The figures the runner computes over the run: the profile, the noise, the ratio to asyncio."""
    computed: dict[str, float | int | str] = {
        "triptych_profile": "quick",
        "triptych_target": PROFILES["quick"].target,
        "triptych_rounds": ROUNDS,
        "triptych_noise": 0.0,
    }
    base = values.get("asyncio", {}).get(name)
    if flavour != "asyncio" and base is not None:
        # Speed-normalised or not, the steady host gives the same ratio.
        found = _ratio(tuple(values[flavour][name]), tuple(base))
        computed.update(
            triptych_vs_asyncio=round(found.value, 4),
            triptych_vs_asyncio_low=round(found.low, 4),
            triptych_vs_asyncio_high=round(found.high, 4),
            triptych_normalised=int(BENCHMARKS[name].kind in stats.NORMALISED_KINDS),
        )
    return computed


TYPICAL = {
    "asyncio": 1.0,
    "asyncio+uvloop": 0.7,
    **({"asyncio+eager": 0.9} if "asyncio+eager" in FLAVOUR_NAMES else {}),
    "trio": 1.5,
    "anyio-asyncio": 5.0,
    "anyio-uvloop": 4.5,
    "anyio-trio": 4.0,
}


# --- The trust files ------------------------------------------------------------------------

FAULT_SECONDS = 0.25


def write_faults(folder: Path, differ: Mapping[tuple[str, str], Mapping[str, Cell]] | None = None) -> list[FaultRow]:
    """``faults.json`` in ``folder`` through the writer ``triptych faults`` uses: every cell of
    the real matrix (every workload's), every flavour giving the expected outcome in
    :data:`FAULT_SECONDS`, except where ``differ[(fault, call)]`` says what a flavour did."""
    differ = differ or {}
    cells = [
        (call.workload, call.name, fault.name, call.expected(fault), bound_of(fault))
        for fault in FAULTS
        for call in calls_of(fault.workload)
    ]
    rows = [
        FaultRow(
            workload,
            call,
            fault,
            expected,
            bound,
            {
                flavour: differ.get((fault, call), {}).get(flavour, Cell(expected, FAULT_SECONDS))
                for flavour in FLAVOUR_NAMES
            },
        )
        for workload, call, fault, expected, bound in cells
    ]
    save_faults(rows, folder, started="2025-01-02T03:04:05Z", seconds=61.5)
    return rows


def write_stress(folder: Path, failures: Mapping[str, int], *, runs: int = 20, tests: int = 812) -> None:
    """``stress.json`` as ``nox -s stress`` writes it: ``runs`` runs of ``tests`` tests each."""
    data = {
        "runs": runs,
        "tests_per_run": [tests] * runs,
        "failures": dict(failures),
        "python": "3.11.7",
        "started": "2025-01-02T03:04:05Z",
        "finished": "2025-01-02T05:06:07Z",
        "seconds": 7322.0,
        "commit": "abc1234",
        "busy_cores": 1,
        "command": f"nox -s stress -- --runs {runs}",
    }
    (folder / "stress.json").write_text(json.dumps(data))


def write_fuzz(folder: Path, tests: Mapping[str, tuple[int, int, int, str]]) -> None:
    """``fuzz.json`` as ``nox -s fuzz`` writes it; ``tests[id]`` = (passing, failing, invalid, outcome)."""
    data = {
        "profile": "fuzz",
        "max_examples": 200,
        "python": "3.11.7",
        "hypothesis": "6.170.27",
        "started": "2025-01-02T03:04:05Z",
        "finished": "2025-01-02T03:24:05Z",
        "commit": "abc1234",
        "arguments": "tests/test_fuzz.py --hypothesis-profile=fuzz -p tests.fuzz_record --fuzz-json=results/fuzz.json",
        "tests": [
            {"test": test, "outcome": outcome, "examples": {"passing": passing, "failing": failing, "invalid": invalid}}
            for test, (passing, failing, invalid, outcome) in tests.items()
        ],
    }
    (folder / "fuzz.json").write_text(json.dumps(data))
