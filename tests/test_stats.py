"""Speed-normalised ratios and their intervals, on synthetic values: what holds on a drifting host.

No timing here: the values are made up, with a host whose speed drifts the way a shared VM's
does, so the assertions hold on any machine.
"""

from __future__ import annotations

import io
import math
import random

from rich.console import Console

from triptych.report import report
from triptych.results import Row, Slot
from triptych.stats import ratio, slot_ratio

ROUNDS, VALUES = 6, 2


def _host(seed: int) -> list[float]:
    """The host's slowness over time: a slow drift (a random walk in log space, within ±40 %) and jitter."""
    rng = random.Random(seed)
    level, speeds = 0.0, []
    for _ in range(ROUNDS * VALUES * 4):
        level = max(-0.4, min(0.4, level + rng.gauss(0, 0.15)))
        speeds.append(math.exp(level) * (1 + rng.gauss(0, 0.01)))
    return speeds


def _rows(seed: int, costs: dict[str, float]) -> list[Row]:
    """One run: in each slot every flavour takes a value in turn, a few moments apart, each
    ``cost`` times the host's slowness then, with the reference loop read around it."""
    host = _host(seed)
    slots: dict[str, dict[Slot, float]] = {flavour: {} for flavour in costs}
    speeds: dict[str, dict[Slot, float]] = {flavour: {} for flavour in costs}
    moment = 0
    for round_ in range(ROUNDS):
        for turn in range(VALUES):
            for flavour, cost in costs.items():
                slowness = host[moment % len(host)]
                slots[flavour][round_, turn] = cost * slowness * 1e-6
                speeds[flavour][round_, turn] = 0.002 * slowness
                moment += 1
    return [
        Row(
            "m",
            flavour,
            "lock_handoff",
            "primitive",
            "acquisition",
            1000,
            cost * 1e-6,
            0.1,
            ROUNDS * VALUES,
            None,
            None,
            {},
            run=f"run-{seed}",
            slots=slots[flavour],
            speeds=speeds[flavour],
            noise=0.2,
            title="Transfers",
            params={"n": 1000},
        )
        for flavour, cost in costs.items()
    ]


def test_normalised_ratios_hold_where_raw_ratios_drift() -> None:
    costs = {"asyncio": 10.0, "trio": 20.0, "anyio-trio": 30.0, "anyio-asyncio": 12.0}
    normalised: list[dict[str, float]] = []
    raw: list[dict[str, float]] = []
    for seed in range(5):
        rows = {row.flavour: row for row in _rows(seed, costs)}
        base = rows["asyncio"]
        normalised.append({f: ratio(r, base, normalise=True).value for f, r in rows.items() if f != "asyncio"})
        raw.append({f: ratio(r, base, normalise=False).value for f, r in rows.items() if f != "asyncio"})

    for flavour, cost in costs.items():
        if flavour == "asyncio":
            continue
        truth = cost / costs["asyncio"]
        assert all(abs(run[flavour] / truth - 1) < 0.01 for run in normalised), flavour
        # The same values, not normalised, move from run to run with the host.
        apart = max(run[flavour] for run in raw) / min(run[flavour] for run in raw) - 1
        assert apart > 0.05, (flavour, apart)


def test_every_ratio_has_an_interval_that_holds_the_truth_and_narrows_with_pairs() -> None:
    rows = {row.flavour: row for row in _rows(7, {"asyncio": 10.0, "trio": 20.0})}

    found = ratio(rows["trio"], rows["asyncio"], normalise=False)

    assert found.low < 2.0 < found.high
    assert found.pairs == ROUNDS * VALUES
    fewer = slot_ratio({s: v for s, v in rows["trio"].slots.items() if s[0] < 2}, dict(rows["asyncio"].slots))
    assert fewer.high - fewer.low > found.high - found.low


def test_a_ratio_whose_interval_includes_one_is_reported_as_within_noise() -> None:
    # trio costs 2 % more than asyncio, under a host that jitters by far more: no order to claim.
    rows = _rows(3, {"asyncio": 10.0, "trio": 10.2, "anyio-trio": 30.0})
    jitter = random.Random(1)
    rows = [
        Row(**{**row.__dict__, "slots": {s: v * (1 + jitter.gauss(0, 0.1)) for s, v in row.slots.items()}})
        for row in rows
    ]
    by = {row.flavour: row for row in rows}
    assert ratio(by["trio"], by["asyncio"]).within_noise
    assert not ratio(by["anyio-trio"], by["trio"]).within_noise
    output = io.StringIO()

    report([by["asyncio"], by["trio"]], Console(file=output, width=200))

    text = " ".join(output.getvalue().split())
    assert "within noise │" in text, "the table's note says so"
    assert "Every flavour is within noise of the others" in text
    assert "fastest" not in text, "no sentence claims an order the intervals do not support"

    output = io.StringIO()
    report(rows, Console(file=output, width=200))
    text = " ".join(output.getvalue().split())
    assert "asyncio is fastest" in text
    assert "anyio-trio takes" in text
    assert "The host's speed varied by 20.0% during the run" in text
