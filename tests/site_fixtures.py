"""Fixed result sets for the report page's tests: pyperf files as the runner writes them.

Each benchmark gets 6 rounds of 2 values per flavour, taken "side by side" (same run, same
slots), so the page's paired ratios can be computed by hand from the same numbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyperf

from triptych.bench import BENCHMARKS, PROFILES, REFERENCES

FIXTURES = Path(__file__).parent / "fixtures"
ROUNDS, VALUES = 6, 2
RUN = "20250102T030405Z-1"
STEADY = (1.0,) * (ROUNDS * VALUES)
NOISY = (0.8, 1.25) * ROUNDS
"""A ratio whose quartiles straddle 1.0: within noise."""

# µs per unit on asyncio for every benchmark of the quick profile, and each flavour's factor.
BASE_MICROSECONDS = 10.0
QUICK = [name for name in PROFILES["quick"].benchmarks]


def catalogue() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "divergences.json").read_text())
    return data


def write_results(
    folder: Path,
    factors: Mapping[str, float],
    *,
    context: str = "fixture-py3.11.7",
    wobble: Mapping[tuple[str, str], Sequence[float]] | None = None,
    overrides: Mapping[tuple[str, str], float] | None = None,
    anyio: str = "4.16.0",
) -> list[Path]:
    """One pyperf file per flavour in ``factors`` (its time as a multiple of asyncio's), for
    every quick-profile benchmark plus the references. ``overrides[(group, flavour)]`` sets
    one factor; ``wobble[(group, flavour)]`` multiplies its values one by one."""
    wobble = wobble or {}
    overrides = overrides or {}
    written = []
    for flavour, factor in [*factors.items(), ("reference", 0.25)]:
        names = [n for n in REFERENCES if n.endswith("[n=500]")] if flavour == "reference" else QUICK
        benchmarks = []
        for name in names:
            spec = BENCHMARKS.get(name) or REFERENCES[name]
            scale = overrides.get((spec.group, flavour), factor)
            pattern = wobble.get((spec.group, flavour), STEADY)
            seconds = [BASE_MICROSECONDS * 1e-6 * scale * pattern[i] for i in range(ROUNDS * VALUES)]
            runs = []
            for round_number in range(ROUNDS):
                metadata = {
                    "name": name,
                    "unit": "second",
                    "loops": 1,
                    "triptych_context": context,
                    "triptych_flavour": flavour,
                    "triptych_group": spec.group,
                    "triptych_kind": spec.kind,
                    "triptych_unit": spec.unit,
                    "triptych_params": json.dumps(spec.params, sort_keys=True),
                    "triptych_run": RUN,
                    "triptych_round": round_number,
                    "triptych_kib_per_unit": 0.5 * scale,
                    "python_version": "3.11.7",
                    "python_implementation": "CPython",
                    "platform": "Linux-fixture",
                    "cpu_count": 2,
                    "cpu_model_name": "Fixture CPU",
                    "hostname": "fixture",
                    "anyio_version": anyio,
                }
                values = seconds[round_number * VALUES : (round_number + 1) * VALUES]
                runs.append(pyperf.Run(values, warmups=[(1, values[0])], metadata=metadata, collect_metadata=False))
            benchmarks.append(pyperf.Benchmark(runs))
        path = folder / context / f"{flavour}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        pyperf.BenchmarkSuite(benchmarks).dump(str(path), replace=True)
        written.append(path)
    return written


TYPICAL = {
    "asyncio": 1.0,
    "asyncio+uvloop": 0.7,
    "trio": 1.5,
    "anyio-asyncio": 5.0,
    "anyio-uvloop": 4.5,
    "anyio-trio": 4.0,
}
