"""Statistics over measured values: speed-normalised values, ratios with 95 % intervals, the host's noise.

The host's speed drifts: on a shared VM a fixed pure-Python loop varies by 15-30 % over
seconds. Each worker times a fixed reference loop right before and right after every value,
and a value divided by the mean of the two is the value at a constant host speed. A ratio
between two flavours is the median of the ratios of their values taken side by side (same
round, same position; same run), normalised where :data:`NORMALISED_KINDS` says it helps
(measured: nowhere);
values never taken side by side (another run, another benchmark) are compared by their
medians. Its 95 % interval comes from a bootstrap: rounds are resampled, then the pairs
within each, so a difference between worker processes widens the interval as it should.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from triptych.results import Row, Slot

__all__ = [
    "NOISY",
    "NORMALISED_KINDS",
    "TARGET",
    "Ratio",
    "level",
    "noise",
    "normalised",
    "ratio",
    "slot_ratio",
    "times",
    "values_of",
]

NORMALISED_KINDS: frozenset[str] = frozenset()
"""The benchmark kinds whose reported ratios are taken from speed-normalised values: none.

Speed normalisation made two runs agree less often overall, for every kind, so the reported
ratios are of the values as timed, and the normalised ones are shown beside them. Ratios to
asyncio within 5 % of each other between two quick runs (`triptych agreement`'s table by
kind), normalised against as timed, over six pairs on a 2-core VM (two pairs crowded, one
idle, and the three pairs of three idle runs with the primitives timed in CPU time, the
third an hour after the first two): primitives 132 of 240 against 152, workloads 121 of 260
against 125, references 32 of 80 against 47. Some pairs went the other way: the primitives
in one crowded pair (9 of 40 against 7), the workloads in three (3 of 30 against 2, 29 of
50 against 23, 31 of 50 against 27). The flavours of a benchmark are timed seconds apart,
so pairing their values already removes most of the host's drift, and the reference loop's
own speed differs between worker processes by a few per cent, which normalising adds to
every ratio.
"""

TARGET = 0.025
"""The precision the runner aims at: each ratio's 95 % interval within ± this share of it."""

NOISY = 0.10
"""A run whose reference loop varied more than this (coefficient of variation) is flagged."""

RESAMPLES = 1000

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Ratio:
    """How many times as long one thing takes as another, with its 95 % interval."""

    value: float
    low: float
    high: float
    pairs: int
    """Values paired side by side (0: compared by medians)."""

    @property
    def within_noise(self) -> bool:
        """True when the interval holds 1.0: no order between the two can be claimed."""
        return self.low <= 1.0 <= self.high

    @property
    def precision(self) -> float:
        """The interval's furthest end from the estimate, as a share of it."""
        return max(self.high / self.value - 1, 1 - self.low / self.value)

    def overlaps(self, other: Ratio) -> bool:
        return self.low <= other.high and other.low <= self.high

    def __str__(self) -> str:
        return f"{self.value:.2f}x"

    @property
    def interval(self) -> str:
        return f"{self.low:.2f}-{self.high:.2f}"


def normalised(values: Mapping[Slot, float], speeds: Mapping[Slot, float]) -> dict[Slot, float]:
    """Each value divided by the host's reference time around it (values without one are left out)."""
    return {slot: value / speeds[slot] for slot, value in values.items() if speeds.get(slot)}


def _bootstrap(groups: list[list[float]], rng: np.random.Generator) -> FloatArray:
    """The medians of :data:`RESAMPLES` two-stage resamples: groups with replacement, then
    as many members as the group has, with replacement, within each drawn group."""
    sizes = np.array([len(group) for group in groups])
    table = np.full((len(groups), sizes.max()), np.nan)
    for row, group in zip(table, groups, strict=True):
        row[: len(group)] = group
    drawn = rng.integers(len(groups), size=(RESAMPLES, len(groups)))
    counts = sizes[drawn][..., np.newaxis]
    members = (rng.random((*drawn.shape, table.shape[1])) * counts).astype(np.intp)
    # Each drawn group contributes its own size in members: the positions past it are left out.
    sample = np.where(np.arange(table.shape[1]) < counts, table[drawn[..., np.newaxis], members], np.nan)
    medians: FloatArray = np.nanmedian(sample.reshape(RESAMPLES, -1), axis=1)
    return medians


def _interval(estimate: float, draws: FloatArray) -> tuple[float, float]:
    draws = np.sort(draws)
    low, high = float(draws[int(0.025 * len(draws))]), float(draws[math.ceil(0.975 * len(draws)) - 1])
    return min(low, estimate), max(high, estimate)


def slot_ratio(first: Mapping[Slot, float], second: Mapping[Slot, float], *, seed: int = 0) -> Ratio:
    """``first`` over ``second``: paired by slot where they share slots, else by medians.

    The estimate and the bootstrap work on logarithms, so ``a/b`` and ``b/a`` are mirror images.
    """
    rng = np.random.default_rng(seed)
    pairs = sorted(first.keys() & second.keys())
    if pairs:
        by_round: dict[int, list[float]] = defaultdict(list)
        for slot in pairs:
            by_round[slot[0]].append(math.log(first[slot] / second[slot]))
        groups = list(by_round.values())
        estimate = statistics.median(log for group in groups for log in group)
        draws = _bootstrap(groups, rng)
    else:
        estimate = math.log(statistics.median(first.values()) / statistics.median(second.values()))
        draws = np.log(_bootstrap(_by_round(first), rng) / _bootstrap(_by_round(second), rng))
    low, high = _interval(estimate, draws)
    return Ratio(math.exp(estimate), math.exp(low), math.exp(high), len(pairs))


def _by_round(values: Mapping[Slot, float]) -> list[list[float]]:
    groups: dict[int, list[float]] = defaultdict(list)
    for (round_, _), value in values.items():
        groups[round_].append(value)
    return list(groups.values())


def values_of(row: Row, normalise: bool | None = None) -> dict[Slot, float]:
    """The values a ratio is taken from: speed-normalised where ``normalise`` is True, or (None)
    where the kind is one of :data:`NORMALISED_KINDS`, and the row has readings; else as timed."""
    if normalise is None:
        normalise = row.kind in NORMALISED_KINDS
    if normalise and row.speeds:
        return normalised(row.slots, row.speeds)
    return dict(row.slots)


def ratio(row: Row, other: Row, *, normalise: bool | None = None) -> Ratio:
    """How many times as long ``row`` takes as ``other``, with a 95 % interval.

    Values are paired when both rows are the same benchmark in the same run. ``normalise``:
    None takes the values as the report does (:func:`values_of`), True speed-normalised,
    False as timed. The report's ratio against asyncio in the same run is the one the
    results carry (:attr:`Row.vs_asyncio <triptych.results.Row.vs_asyncio>`).
    """
    paired = bool(row.run) and row.run == other.run and (row.group, row.n) == (other.group, other.n)
    if normalise is None and paired and other.flavour == "asyncio" and row.vs_asyncio is not None:
        # The runner computed this one over the same values when it wrote the files: read,
        # not computed again, so that every reader says the same.
        value, low, high = row.vs_asyncio
        return Ratio(value, low, high, len(row.slots.keys() & other.slots.keys()))
    first, second = values_of(row, normalise), values_of(other, normalise)
    if not first or not second:  # no values to go by: the medians, and no interval
        return Ratio(row.median / other.median, 0.0, math.inf, 0)
    if not paired:
        first = {(0, turn): value for turn, value in enumerate(first.values())}
        second = {(1, turn): value for turn, value in enumerate(second.values())}
    return slot_ratio(first, second)


def level(row: Row) -> float:
    """The median of the values ratios are taken from: orders the rows of one run."""
    return statistics.median(values_of(row).values())


def times(row: Row, other: Row) -> float:
    """How many times as long ``row`` takes as ``other`` (the estimate of :func:`ratio`)."""
    return ratio(row, other).value


def noise(readings: Iterable[float]) -> float | None:
    """The host's variation: the coefficient of variation of the reference loop's times."""
    times_ = list(readings)
    if len(times_) < 2:
        return None
    return statistics.stdev(times_) / statistics.mean(times_)
