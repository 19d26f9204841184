"""How well two runs agree: whether their 95 % intervals of each ratio to asyncio overlap, and how far apart."""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console
from rich.table import Table

from triptych.results import Row
from triptych.stats import Ratio, ratio

__all__ = ["agreement"]

Key = tuple[str, str, int]
"""(flavour, group, n)."""


def _ratios_to_asyncio(rows: list[Row], *, normalise: bool | None) -> dict[Key, tuple[str, Ratio]]:
    by_key = {(r.flavour, r.group, r.n): r for r in rows}
    return {
        key: (row.kind, ratio(row, by_key[("asyncio", *key[1:])], normalise=normalise))
        for key, row in by_key.items()
        if key[0] != "asyncio" and ("asyncio", *key[1:]) in by_key
    }


def agreement(first: list[Row], second: list[Row], console: Console, *, within: float = 0.05) -> bool:
    """Print how two runs compare on each ratio to asyncio; True if every pair of 95 % intervals overlaps.

    Two runs agree on a ratio when their intervals overlap: the difference is within what
    each run says it does not know. How far apart the estimates are, and how many are within
    ``within``, is printed too, per kind of benchmark, for the speed-normalised ratios and for
    the ratios of the values as timed.
    """
    for rows in (first, second):
        if len({r.context for r in rows}) > 1:
            raise ValueError("each side must hold the results of one run, in one context")
    ratios = [_ratios_to_asyncio(rows, normalise=None) for rows in (first, second)]
    common = sorted(ratios[0].keys() & ratios[1].keys())
    if not common:
        raise ValueError("the two runs have no benchmark and flavour in common")
    apart = {key: abs(ratios[0][key][1].value / ratios[1][key][1].value - 1) for key in common}
    overlap = {key: ratios[0][key][1].overlaps(ratios[1][key][1]) for key in common}

    table = Table(title="The ratios to asyncio that differ most between the two runs", title_justify="left")
    for column in ("flavour", "benchmark", "first", "95 % interval", "second", "95 % interval", "apart", "overlap"):
        table.add_column(column, justify="left" if column in ("flavour", "benchmark") else "right", no_wrap=True)
    worst = sorted(common, key=lambda key: (overlap[key], -apart[key]))
    for key in worst[:10]:
        flavour, group, n = key
        one, two = ratios[0][key][1], ratios[1][key][1]
        table.add_row(
            flavour, f"{group} n={n:,}", str(one), one.interval, str(two), two.interval, f"{apart[key]:.1%}",
            "yes" if overlap[key] else "no",
        )  # fmt: skip
    console.print(table)
    _by_kind(first, second, within, console)

    agreeing = sum(overlap.values())
    close = sum(distance <= within for distance in apart.values())
    furthest = max(common, key=lambda key: apart[key])
    console.print(
        f"{agreeing} of {len(common)} ratios to asyncio agree (their 95 % intervals overlap); "
        f"{close} of {len(common)} are within {within:.0%}; the furthest apart differ by {apart[furthest]:.1%}."
    )
    return agreeing == len(common)


def _by_kind(first: list[Row], second: list[Row], within: float, console: Console) -> None:
    """Per kind of benchmark: how many ratios are within ``within`` of each other, speed-normalised and as timed."""
    normalised, raw = ([_ratios_to_asyncio(rows, normalise=way) for rows in (first, second)] for way in (True, False))
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for key in normalised[0].keys() & normalised[1].keys():
        counts = tally[normalised[0][key][0]]
        counts[0] += 1
        for index, ratios in ((1, normalised), (2, raw)):
            counts[index] += abs(ratios[0][key][1].value / ratios[1][key][1].value - 1) <= within
    table = Table(title=f"Ratios to asyncio within {within:.0%} of each other, by kind", title_justify="left")
    for column in ("kind", "ratios", "speed-normalised", "as timed"):
        table.add_column(column, justify="left" if column == "kind" else "right", no_wrap=True)
    for kind, (count, steady, steady_raw) in sorted(tally.items()):
        table.add_row(kind, str(count), str(steady), str(steady_raw))
    console.print(table)
