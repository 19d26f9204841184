"""Statistics over result rows: the ratio of two flavours' times, from values timed side by side."""

from __future__ import annotations

import statistics

from triptych.results import Row

__all__ = ["times"]


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
