"""The comparison as pictures: one PNG of ratios and one of scale curves per context.

matplotlib is imported only here: the workers never need it, and the report works without
it (``pip install 'triptych[plot]'`` to get the pictures).
"""

from __future__ import annotations

import textwrap
from collections import defaultdict
from pathlib import Path

from matplotlib.figure import Figure  # no pyplot: no display, no global state
from matplotlib.ticker import ScalarFormatter

from triptych.flavours import ALL_FLAVOUR_NAMES
from triptych.report import standard_rows
from triptych.results import Row
from triptych.stats import times

__all__ = ["write_plots"]


def _colour(flavour: str) -> str:
    """One colour per flavour, the same in every plot."""
    return f"C{ALL_FLAVOUR_NAMES.index(flavour)}"


def write_plots(rows: list[Row], out_dir: Path) -> list[Path]:
    """Write ``<out_dir>/<context>/ratios.png`` (and ``scale.png`` where a benchmark was
    measured at several sizes); return the files written."""
    by_context: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_context[row.context].append(row)
    written = []
    for context, context_rows in sorted(by_context.items()):
        folder = out_dir / context
        folder.mkdir(parents=True, exist_ok=True)
        for name, draw in (("ratios.png", _ratios), ("scale.png", _scale)):
            figure = draw(context, context_rows)
            if figure is not None:
                figure.savefig(folder / name, dpi=120, bbox_inches="tight")
                written.append(folder / name)
    return written


def _ratios(context: str, rows: list[Row]) -> Figure | None:
    """Each benchmark at its standard size: time per unit relative to asyncio, log scale."""
    benchmarks = [
        group_rows
        for group_rows in standard_rows(rows)
        if any(r.flavour == "asyncio" and r.kind != "reference" for r in group_rows)
    ]
    if not benchmarks:
        return None
    flavours = [f for f in ALL_FLAVOUR_NAMES if any(r.flavour == f for g in benchmarks for r in g)]
    figure = Figure(figsize=(10, 1 + 0.17 * len(benchmarks) * len(flavours)), layout="constrained")
    axes = figure.subplots()
    height = 0.8 / len(flavours)
    labels = []
    for index, group_rows in enumerate(benchmarks):
        by_flavour = {r.flavour: r for r in group_rows if r.kind != "reference"}
        base = by_flavour["asyncio"]
        labels.append(textwrap.fill(f"{base.title} (n={base.n:,})", 44))
        for position, flavour in enumerate(flavours):
            if flavour in by_flavour:
                y = index + (position - (len(flavours) - 1) / 2) * height
                axes.barh(y, times(by_flavour[flavour], base), height, color=_colour(flavour), label=flavour)
    handles, names = axes.get_legend_handles_labels()
    unique = dict(zip(names, handles, strict=True))
    axes.legend(unique.values(), unique.keys(), loc="lower right", fontsize="small")
    axes.set_xscale("log")
    axes.axvline(1.0, color="black", linewidth=0.8)
    axes.set_yticks(range(len(benchmarks)), labels, fontsize="small")
    axes.invert_yaxis()
    axes.set_xlabel("time per unit, relative to asyncio (log scale; < 1 is faster)")
    axes.set_title(f"Cost relative to raw asyncio [{context}]")
    return figure


def _scale(context: str, rows: list[Row]) -> Figure | None:
    """µs per unit against N for every benchmark measured at several sizes, log-log."""
    series: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if row.kind != "reference":
            series[row.group].append(row)
    groups = [group for group, group_rows in series.items() if len({r.n for r in group_rows}) > 1]
    if not groups:
        return None
    figure = Figure(figsize=(5 * len(groups), 4), layout="constrained")
    all_axes = figure.subplots(1, len(groups), squeeze=False)
    for axes, group in zip(all_axes[0], groups, strict=True):
        for flavour in [f for f in ALL_FLAVOUR_NAMES if any(r.flavour == f for r in series[group])]:
            points = sorted((r.n, r.median * 1e6) for r in series[group] if r.flavour == flavour)
            axes.plot(*zip(*points, strict=True), marker="o", color=_colour(flavour), label=flavour)
        unit = series[group][0].unit
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.yaxis.set_major_formatter(ScalarFormatter())
        axes.yaxis.set_minor_formatter(ScalarFormatter())
        axes.set_xlabel("N")
        axes.set_ylabel(f"µs per {unit}")
        axes.set_title(series[group][0].title, fontsize="small")
    all_axes[0][0].legend(fontsize="small")
    figure.suptitle(f"How the cost per unit grows with N [{context}]")
    return figure
