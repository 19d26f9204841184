"""The comparison in the terminal: a table per benchmark, each with what its numbers say."""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console
from rich.table import Table

from triptych.flavours import ALL_FLAVOUR_NAMES, get
from triptych.results import Row
from triptych.stats import NOISY, Ratio, level, ratio

__all__ = ["FANOUT_LAYERS", "SERVER_BOUND", "report", "standard_rows"]

SERVER_BOUND = 0.8
"""A row whose server used more than this share of a core while it ran is flagged."""


def _microseconds(seconds: float) -> str:
    micro = seconds * 1e6
    return f"{micro:,.2f}" if micro < 100 else f"{micro:,.0f}"


def _label(row: Row) -> str:
    """A flavour's row by its name; a reference by its title and the flavour it ran on."""
    if row.kind != "reference":
        return row.flavour
    return f"ref: {row.title} ({row.flavour})"


def _sentence_generic(rows: list[Row]) -> str:
    """Who is fastest, what AnyIO and uvloop change; an order only where the intervals support it."""
    flavoured = [r for r in rows if r.kind != "reference"]
    if len(flavoured) < 2:
        return ""
    fastest, slowest = min(flavoured, key=level), max(flavoured, key=level)
    apart = ratio(slowest, fastest)
    if apart.within_noise:
        return f"Every flavour is within noise of the others (95 % intervals include 1.0: {apart.interval})."
    parts = [
        f"{fastest.flavour} is fastest at {_microseconds(fastest.median)} µs per {fastest.unit}; "
        f"{slowest.flavour} takes {apart.value:.1f}x as long"
    ]
    by = {r.flavour: r for r in flavoured}
    if "anyio-asyncio" in by and "asyncio" in by:
        cost = ratio(by["anyio-asyncio"], by["asyncio"])
        parts.append(f"AnyIO costs {_or_noise(cost, f'{cost.value:.1f}x')} raw asyncio on the same loop")
    if "anyio-trio" in by and "trio" in by:
        cost = ratio(by["anyio-trio"], by["trio"])
        parts.append(f"{_or_noise(cost, f'{cost.value:.1f}x')} raw Trio")
    if "asyncio+uvloop" in by and "asyncio" in by:
        gain = ratio(by["asyncio"], by["asyncio+uvloop"])
        parts.append(
            "uvloop makes no difference to raw asyncio beyond the noise"
            if gain.within_noise
            else f"uvloop makes raw asyncio {gain.value:.1f}x as fast"
        )
    return "; ".join(parts) + "."


FANOUT_LAYERS = (
    ("httpx-aiohttp", "aiohttp", "the cost of httpx's own request and response objects"),
    ("fanout", "httpx-aiohttp", "httpcore, h11 and httpcore's network backend against aiohttp's connector"),
    ("httpx-shared", "fanout", "one shared connection pool (httpcore's) against one client per worker"),
    ("httpx2-shared", "httpx-shared", "what httpcore2's pool fixes take back"),
)
"""(reference, the row it differs from by one layer, what that layer is)."""


def _or_noise(found: Ratio, claim: str) -> str:
    return "the same, within noise, as" if found.within_noise else claim


def _sentence_fanout(rows: list[Row]) -> str:
    """What the HTTP clients' references say about a fan-out: how much is the loop, how much the client."""
    flavoured = [r for r in rows if r.kind != "reference"]
    aiohttp = [r for r in rows if r.group == "aiohttp"]
    if not flavoured:
        return ""
    fastest, slowest = min(flavoured, key=level), max(flavoured, key=level)
    apart = ratio(slowest, fastest)
    spread = apart.value - 1
    sentence = (
        f"httpx, not the loop, limits fan-out: every flavour is within {spread:.0%} of the others"
        if spread < 0.25 or apart.within_noise
        else f"The loop matters here: {fastest.flavour} is {1 + spread:.1f}x as fast as {slowest.flavour}"
    )
    if aiohttp:
        best = min(aiohttp, key=lambda r: r.median)
        sentence += f", and aiohttp ({get(best.flavour).loop}) is {fastest.median / best.median:.1f}x faster"
    serial = {r.flavour: r for r in rows if r.group == "httpx-serial"}
    floors = [f.median / serial[f.flavour].median for f in flavoured if f.flavour in serial]
    if floors:
        rates = f"{1 / max(floors):.2f}-{1 / min(floors):.2f}x"
        limit = fastest.params["limit"]
        sentence += f". With {limit} in flight each flavour runs at {rates} httpx's own one-at-a-time rate"
    by_row = {(r.group, r.flavour): r for r in rows}
    for upper, lower, layer in FANOUT_LAYERS:
        if (above := by_row.get((upper, "asyncio"))) and (below := by_row.get((lower, "asyncio"))):
            found = ratio(above, below)
            sentence += f". On asyncio, {upper} takes {_or_noise(found, f'{found.value:.2f}x')} {lower}: {layer}"
    return sentence + "."


def _notes(row: Row, found: Ratio | None) -> str:
    notes = []
    if found is not None and found.within_noise:
        notes.append("within noise")
    if row.server_cpu_share is not None and row.server_cpu_share > SERVER_BOUND:
        notes.append(f"server-bound ({row.server_cpu_share:.0%} of a core)")
    return "; ".join(notes)


def _single_table(context: str, group: str, n: int, rows: list[Row], console: Console) -> None:
    rows = sorted(rows, key=lambda r: (r.kind == "reference", r.group, ALL_FLAVOUR_NAMES.index(r.flavour)))
    base = next((r for r in rows if r.flavour == "asyncio" and r.group == group), None)
    unit = rows[0].unit
    table = Table(title=f"{rows[0].title} (n={n:,}) [{context}]", title_justify="left")
    columns = ("flavour", f"µs/{unit}", "spread", "vs asyncio", "95 % interval", "normalised", f"KiB/{unit}", "note")
    for column in columns:
        table.add_column(column, justify="left" if column in ("flavour", "note") else "right", no_wrap=True)
    for row in rows:
        memory = f"{row.kib_per_unit:.2f}" if row.kib_per_unit is not None else "-"
        found = ratio(row, base) if base is not None and row is not base else None
        normalised = ratio(row, base, normalise=True) if base is not None and found else None
        table.add_row(
            _label(row),
            _microseconds(row.median),
            f"±{row.spread:.1%}",
            str(found) if found else "1.00x" if row is base else "-",
            found.interval if found else "-",
            str(normalised) if normalised else "-",
            memory,
            _notes(row, found),
        )
    console.print(table)
    has_references = any(r.kind == "reference" for r in rows)
    sentence = _sentence_fanout(rows) if has_references else _sentence_generic(rows)
    if sentence:
        console.print(f"  {sentence}\n")


def _scale_table(context: str, group: str, rows: list[Row], console: Console) -> None:
    sizes = sorted({r.n for r in rows})
    unit = rows[0].unit
    table = Table(title=f"Scale: {rows[0].title} [{context}]", title_justify="left")
    table.add_column("flavour", no_wrap=True)
    for n in sizes:
        table.add_column(f"µs/{unit} N={n:,}", justify="right")
    for n in sizes:
        table.add_column(f"KiB/{unit} N={n:,}", justify="right")
    growth = {}
    for flavour in [f for f in ALL_FLAVOUR_NAMES if any(r.flavour == f for r in rows)]:
        by_n = {r.n: r for r in rows if r.flavour == flavour}
        cells = [_microseconds(by_n[n].median) if n in by_n else "-" for n in sizes]
        cells += [
            f"{by_n[n].kib_per_unit:.2f}" if n in by_n and by_n[n].kib_per_unit is not None else "-" for n in sizes
        ]
        table.add_row(flavour, *cells)
        if sizes[0] in by_n and sizes[-1] in by_n:
            growth[flavour] = by_n[sizes[-1]].median / by_n[sizes[0]].median
    console.print(table)
    if growth:
        most, least = max(growth, key=lambda f: growth[f]), min(growth, key=lambda f: growth[f])
        console.print(
            f"  At N={sizes[-1]:,} the cost per {unit} is {growth[least]:.1f}x that at N={sizes[0]:,} on {least}, "
            f"up to {growth[most]:.1f}x on {most}.\n"
        )


def _across_contexts(rows: list[Row], console: Console) -> None:
    contexts = sorted({r.context for r in rows})
    if len(contexts) < 2:
        return
    keys = sorted({(r.group, r.n) for r in rows if r.kind != "reference"})
    for flavour in [f for f in ALL_FLAVOUR_NAMES if any(r.flavour == f for r in rows)]:
        table = Table(title=f"{flavour} across contexts: µs per unit", title_justify="left")
        table.add_column("benchmark", no_wrap=True)
        for context in contexts:
            table.add_column(context, justify="right")
        table.add_column("last / first", justify="right")
        index = {(r.context, r.group, r.n): r for r in rows if r.flavour == flavour}
        for group, n in keys:
            found = [index.get((context, group, n)) for context in contexts]
            if all(r is None for r in found):
                continue
            cells = [_microseconds(r.median) if r else "-" for r in found]
            first, last = found[0], found[-1]
            change = f"{last.median / first.median:.2f}x" if first and last else "-"
            table.add_row(f"{group} n={n:,}", *cells, change)
        console.print(table)
    console.print()


def report(rows: list[Row], console: Console) -> None:
    """Print a table per benchmark and context, each followed by what its numbers say."""
    by_context: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_context[row.context].append(row)
    for context, context_rows in sorted(by_context.items()):
        for table_rows in standard_rows(context_rows):
            group, n = table_rows[0].group, table_rows[0].n
            series = [r for r in context_rows if r.group == group]
            if len({r.n for r in series}) > 1:
                _scale_table(context, group, series, console)
            _single_table(context, group, n, table_rows, console)
        # Each flavour's virtualenv has only its own libraries: list what any of them had.
        versions = {package: version for row in context_rows for package, version in row.versions.items()}
        installs = " and ".join(sorted({row.install for row in context_rows}))
        listed = ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
        console.print(f"[dim]{context}: {listed} ({installs})[/dim]")
        _print_noise(context_rows, console)
    _across_contexts(rows, console)


def standard_rows(rows: list[Row]) -> list[list[Row]]:
    """One context's rows as one list per benchmark at its standard size, with its references.

    The standard size is the largest at which a reference of the benchmark ran too, else the
    largest measured.
    """
    groups: dict[str, list[Row]] = defaultdict(list)
    references: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        (references[row.reference_for] if row.kind == "reference" else groups[row.group]).append(row)
    tables = []
    for group, group_rows in groups.items():
        sizes = {r.n for r in group_rows}
        shared = sizes & {r.n for r in references[group]}
        standard = max(shared or sizes)
        tables.append([r for r in group_rows if r.n == standard] + references[group])
    return tables


def _print_noise(rows: list[Row], console: Console) -> None:
    """The host's variation during the run(s), from the reference loop, with a warning when it is high."""
    readings = [r.noise for r in rows if r.noise is not None]
    if not readings:
        console.print()
        return
    worst = max(readings)
    if worst > NOISY:
        console.print(
            f"[yellow]The host's speed varied by {worst:.1%} during the run (reference loop): expect wider "
            "intervals; a quieter host gives tighter ones.[/yellow]\n"
        )
    else:
        console.print(f"[dim]The host's speed varied by {worst:.1%} during the run (reference loop).[/dim]\n")
