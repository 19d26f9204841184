"""How well two runs agree: how far apart they put each ratio to asyncio."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from triptych.results import Row
from triptych.stats import times

__all__ = ["agreement"]


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
