"""Build the report page: one self-contained HTML file a team reads to choose a backend.

The page holds a decision guide computed from the results, each workload's contract and its
three implementations aligned section by section, the numbers with inline SVG charts, the
divergence catalogue, and how the numbers were made. It makes no request of any kind: the
style and the small script (tabs only; everything reads without it) are inlined, the charts
are SVG, the code is highlighted by Pygments at build time.

Three inputs come from elsewhere, each read in one place so it can be re-pointed:

- the results: :func:`read_results` is the only code that reads result files;
- the divergence catalogue: :func:`read_catalogue` (the dict of
  ``python -m triptych divergences --json``);
- the intended differences between mirrored lines: :func:`intended_differences`. Until the
  parity check holds a table of them, they are derived from the one-line reason comments
  that sit above the lines that differ (STYLE.md: each intended difference carries one).
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import json
import math
import re
import statistics
import subprocess
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import pyperf
from markupsafe import Markup, escape
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

import shared
from triptych.bench import PROFILES
from triptych.compare import TITLES, Row, load, standard_rows
from triptych.flavours import FLAVOUR_NAMES
from triptych.parity import IMPL_PACKAGES

__all__ = [
    "COLOURS",
    "Catalogue",
    "Context",
    "IntendedDifference",
    "Measure",
    "Ratio",
    "build_page",
    "guide_text",
    "intended_differences",
    "read_catalogue",
    "read_results",
    "write_page",
]

ROOT = Path(shared.__file__).parent.parent
# matplotlib's first six colours, so the page's flavours look as in ratios.png and scale.png.
COLOURS = dict(zip(FLAVOUR_NAMES, ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"), strict=True))
COLOURS["reference"] = "#7f7f7f"
ADD_NUMBERS = (
    "nox -s compare (writes results/ and results/report.html), or python -m triptych site --out DIR RESULTS..."
)


# --- Results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """One benchmark of one flavour in one context: what the page shows of it."""

    context: str
    flavour: str
    group: str
    kind: str
    unit: str
    n: int
    median: float
    """Seconds per unit."""
    spread: float
    """Half the inter-quartile range, as a fraction of the median."""
    values: int
    kib_per_unit: float | None
    source: str
    """The result file it was read from."""
    run: str = ""
    slots: Mapping[tuple[int, int], float] = field(default_factory=dict)
    """Values by (round, turn); within one run, values in the same slot were timed side by side."""

    @property
    def anchor(self) -> str:
        return _slug(f"m-{self.context}-{self.group}-{self.n}-{self.flavour}")


@dataclass(frozen=True)
class Context:
    """One result set: one machine, Python and set of library versions."""

    name: str
    machine: str
    cpu: str
    cpus: str
    platform: str
    python: str
    versions: Mapping[str, str]
    date: str
    profile: str
    files: tuple[str, ...]
    measures: tuple[Measure, ...]

    def find(self, group: str, n: int, flavour: str) -> Measure | None:
        return next(
            (m for m in self.measures if (m.group, m.n, m.flavour) == (group, n, flavour)),
            None,
        )


def read_results(paths: Iterable[Path]) -> list[Context]:
    """Every result set in the files or folders ``paths``, one Context per context name.

    The only code here that knows the results' format: today pyperf files read through
    :func:`triptych.compare.load`, plus their run metadata for the machine. ValueError names
    a path that is missing or holds something else.
    """
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            raise ValueError(f"no such file or folder: {path}")
        files += sorted(p for p in path.rglob("*.json") if not p.name.startswith(".")) if path.is_dir() else [path]
    rows: dict[str, list[tuple[Row, str]]] = defaultdict(list)
    metadata: dict[str, dict[str, Any]] = {}
    for file in files:
        for row in load([file]):
            rows[row.context].append((row, str(file)))
        first = pyperf.BenchmarkSuite.load(str(file)).get_benchmarks()[0].get_runs()[0].get_metadata()
        metadata.setdefault(str(first["triptych_context"]), first)
    contexts = []
    for name, found in sorted(rows.items()):
        meta = metadata[name]
        versions = {package: version for row, _ in found for package, version in row.versions.items()}
        measures = tuple(
            Measure(
                name,
                row.flavour,
                row.group,
                row.kind,
                row.unit,
                row.n,
                row.median,
                row.spread,
                row.values,
                row.kib_per_unit,
                source,
                row.run,
                row.slots,
            )
            for row, source in found
        )
        names = {f"{row.group}[n={row.n}]" for row, _ in found if row.kind != "reference"}
        profile = next((p.name for p in PROFILES.values() if names <= set(p.benchmarks)), "custom")
        run = next((row.run for row, _ in found if row.run), "")
        contexts.append(
            Context(
                name=name,
                machine=str(meta.get("hostname", "?")),
                cpu=str(meta.get("cpu_model_name", "?")),
                cpus=f"{meta.get('cpu_count', '?')} (workers pinned to CPU {meta.get('cpu_affinity', 'none')})",
                platform=str(meta.get("platform", "?")),
                python=f"{meta.get('python_implementation', '')} {meta.get('python_version', '?')}".strip(),
                versions=dict(sorted(versions.items())),
                date=_run_date(run),
                profile=profile,
                files=tuple(sorted({source for _, source in found})),
                measures=measures,
            )
        )
    return contexts


def _run_date(run: str) -> str:
    try:
        return datetime.strptime(run.split("-")[0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return "unknown"


# --- Ratios and the words for them --------------------------------------------------------


@dataclass(frozen=True)
class Ratio:
    """How many times as long one measure takes as another, with the spread of that ratio."""

    value: float
    low: float
    high: float
    paired: bool
    """True when taken from values timed side by side (same run, same slot)."""

    @property
    def within_noise(self) -> bool:
        return self.low <= 1.0 <= self.high


def ratio(measure: Measure, baseline: Measure) -> Ratio:
    """``measure`` against ``baseline``: in one run, the median and quartiles of the ratios
    of values timed side by side; otherwise the ratio of medians, widened by both spreads."""
    same_run = measure.run and measure.run == baseline.run
    pairs = sorted(measure.slots.keys() & baseline.slots.keys()) if same_run else []
    if pairs:
        ratios = [measure.slots[pair] / baseline.slots[pair] for pair in pairs]
        low, _, high = statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) > 1 else ratios * 3
        return Ratio(statistics.median(ratios), low, high, paired=True)
    value = measure.median / baseline.median
    width = measure.spread + baseline.spread
    return Ratio(value, value * (1 - width), value * (1 + width), paired=False)


def figure(value: float) -> str:
    """Three significant figures, without an exponent for the sizes met here."""
    if value == 0 or not math.isfinite(value):
        return str(value)
    rounded = float(f"{value:.3g}")
    return f"{rounded:,.{max(0, 2 - math.floor(math.log10(abs(rounded))))}f}"


def times(value: float) -> str:
    return f"{figure(value)}x"


def _cite(text: str, measure: Measure, detail: str = "") -> Markup:
    """A number linked to the table row it comes from, its provenance on hover."""
    title = (
        f"{measure.group} n={measure.n:,} on {measure.flavour}, {measure.context}: median "
        f"{figure(measure.median * 1e6)} µs/{measure.unit}, ±{measure.spread:.1%}, {measure.values} values; "
        f"{measure.source}"
    )
    if detail:
        title += f"; {detail}"
    return Markup('<a class="num" href="#{}" title="{}">{}</a>').format(measure.anchor, title, text)


def compared(r: Ratio, measure: Measure, baseline_name: str) -> Markup:
    """``measure``'s time against a baseline in words: slower, faster, or within noise."""
    detail = (
        f"ratio {'of values timed side by side' if r.paired else 'of medians'}, IQR {figure(r.low)}-{figure(r.high)}"
    )
    number = _cite(times(r.value), measure, detail)
    if r.within_noise:
        return Markup("about the same as {} ({}, within noise)").format(baseline_name, number)
    word = "slower" if r.value > 1 else "faster"
    return Markup("{} as long as {} ({})").format(number, baseline_name, word)


# --- The decision guide --------------------------------------------------------------------

QUESTION_GROUPS = {
    "spawn_join": "spawning a task",
    "handoff+checkpoint": "handing a value over (a checkpoint on every put and get)",
    "lock_handoff": "a contended lock",
    "timeout_scope": "a timeout scope",
    "cancel_waiting": "cancelling waiting tasks",
}
HTTPCORE_BACKENDS = "https://github.com/encode/httpcore/blob/1.0.9/httpcore/_backends/auto.py"
"""Where httpcore picks its network backend: Trio's under Trio, AnyIO's under anything else."""
RAW = {"anyio-asyncio": "asyncio", "anyio-uvloop": "asyncio+uvloop", "anyio-trio": "trio"}


@dataclass(frozen=True)
class Answer:
    question: str
    sentences: tuple[Markup, ...]


def _standard(context: Context) -> dict[str, int]:
    """Each benchmark's standard size, as the terminal report picks it."""
    rows = [_as_row(m) for m in context.measures]
    return {table[0].group: table[0].n for table in standard_rows(rows)}


def _as_row(measure: Measure) -> Row:
    return Row(
        context=measure.context,
        flavour=measure.flavour,
        group=measure.group,
        kind=measure.kind,
        unit=measure.unit,
        n=measure.n,
        median=measure.median,
        spread=measure.spread,
        values=measure.values,
        kib_per_unit=measure.kib_per_unit,
        server_cpu_share=None,
        versions={},
    )


def _pair(context: Context, group: str, flavour: str, baseline: str) -> tuple[Measure, Ratio] | None:
    n = _standard(context).get(group)
    if n is None:
        return None
    measure, base = context.find(group, n, flavour), context.find(group, n, baseline)
    return (measure, ratio(measure, base)) if measure and base else None


def _costs(context: Context) -> Answer:
    sentences = []
    for group, what in QUESTION_GROUPS.items():
        parts = []
        for flavour in ("trio", "anyio-asyncio", "anyio-trio"):
            if found := _pair(context, group, flavour, "asyncio"):
                parts.append(Markup("{} takes {}").format(flavour, compared(found[1], found[0], "asyncio")))
        if parts:
            sentences.append(Markup("For {}, ").format(what) + Markup("; ").join(parts) + ".")
    return Answer("What do Trio and AnyIO cost against raw asyncio?", tuple(sentences))


def _verdicts(pairs: list[tuple[str, Measure, Ratio]]) -> Markup:
    """Group benchmarks by verdict: faster, within noise, slower."""
    faster = [(g, m, r) for g, m, r in pairs if not r.within_noise and r.value < 1]
    slower = [(g, m, r) for g, m, r in pairs if not r.within_noise and r.value > 1]
    noise = [(g, m, r) for g, m, r in pairs if r.within_noise]
    parts = []
    for label, chosen in (("faster", faster), ("within noise", noise), ("slower", slower)):
        if chosen:
            cited = Markup(", ").join(Markup("{} {}").format(g, _cite(times(r.value), m)) for g, m, r in chosen)
            parts.append(Markup("{} in {} of {} ({})").format(label, len(chosen), len(pairs), cited))
    return Markup("; ").join(parts)


def _all_pairs(context: Context, flavour: str, baseline: str) -> list[tuple[str, Measure, Ratio]]:
    found = []
    for group in _standard(context):
        if group != "fanout" and (pair := _pair(context, group, flavour, baseline)):
            found.append((group, *pair))
    return found


def _uvloop(context: Context) -> Answer:
    sentences = []
    for flavour, baseline in (("asyncio+uvloop", "asyncio"), ("anyio-uvloop", "anyio-asyncio")):
        if pairs := _all_pairs(context, flavour, baseline):
            sentences.append(Markup("{} against {}: ").format(flavour, baseline) + _verdicts(pairs) + ".")
    if found := _pair(context, "fanout", "asyncio+uvloop", "asyncio"):
        sentences.append(
            Markup("For the httpx fan-out, asyncio+uvloop takes {}.").format(compared(found[1], found[0], "asyncio"))
        )
    return Answer("Does uvloop pay here?", tuple(sentences))


def _fanout(context: Context) -> Answer:
    n = _standard(context).get("fanout")
    if n is None:
        return Answer("Why does the httpx fan-out run where it does?", ())
    flavoured = [m for f in FLAVOUR_NAMES if (m := context.find("fanout", n, f))]
    sentences = []
    if flavoured:
        fastest = min(flavoured, key=lambda m: m.median)
        slowest = max(flavoured, key=lambda m: m.median)
        sentences.append(
            Markup("{} is the fastest flavour at {} µs per request; {} takes {}.").format(
                fastest.flavour,
                _cite(figure(fastest.median * 1e6), fastest),
                slowest.flavour,
                compared(ratio(slowest, fastest), slowest, fastest.flavour),
            )
        )
        aiohttp = [m for m in context.measures if m.group.startswith("aiohttp") and m.n == n]
        if aiohttp:
            best = min(aiohttp, key=lambda m: m.median)
            sentences.append(
                Markup(
                    "aiohttp ({}) with the same 100 in flight takes {}: "
                    "the HTTP client, more than the loop, sets the pace."
                ).format(
                    best.group.removeprefix("aiohttp-"),
                    compared(ratio(best, fastest), best, f"httpx on {fastest.flavour}"),
                )
                if not ratio(best, fastest).within_noise and best.median < fastest.median
                else Markup("aiohttp ({}) takes {}: here the client is not what limits the fan-out.").format(
                    best.group.removeprefix("aiohttp-"),
                    compared(ratio(best, fastest), best, f"httpx on {fastest.flavour}"),
                )
            )
        serial = [(m, s) for m in flavoured if (s := _serial(context, m.flavour))]
        if serial:
            gains = [(s.median / m.median, m) for m, s in serial]
            low, high = min(gains, key=lambda g: g[0]), max(gains, key=lambda g: g[0])
            sentences.append(
                Markup(
                    "With 100 in flight each flavour runs httpx at {} to {} its own one-request-at-a-time rate."
                ).format(_cite(times(low[0]), low[1]), _cite(times(high[0]), high[1]))
            )
    sentences.append(
        Markup(
            "These rows compare I/O layers as much as loops: httpx on asyncio and uvloop runs over "
            "httpcore's AnyIO network backend, on Trio over httpcore's Trio backend (so in httpcore "
            '<a href="{}">1.0.9</a>; this set has httpcore {}). A different client (see aiohttp above) '
            "or a different network backend would change them more than a different loop."
        ).format(HTTPCORE_BACKENDS, context.versions.get("httpcore", "not recorded"))
    )
    return Answer("Why does the httpx fan-out run where it does?", tuple(sentences))


def _serial(context: Context, flavour: str) -> Measure | None:
    return next((m for m in context.measures if m.group == "httpx-serial" and m.flavour == flavour), None)


def _anyio(context: Context) -> Answer:
    sentences = []
    for flavour, raw in RAW.items():
        if pairs := _all_pairs(context, flavour, raw):
            worst = max(pairs, key=lambda p: p[2].value)
            sentences.append(
                Markup("{} against raw {} on the same loop: ").format(flavour, raw)
                + _verdicts(pairs)
                + Markup("; the most in {}.").format(QUESTION_GROUPS.get(worst[0], worst[0]))
            )
    spawn = _standard(context).get("spawn_join")
    if spawn:
        memory = [m for f in ("asyncio", "anyio-asyncio") if (m := context.find("spawn_join", spawn, f))]
        if len(memory) == 2 and all(m.kib_per_unit for m in memory):
            sentences.append(
                Markup("Memory per task spawned: {} KiB on anyio-asyncio against {} on asyncio.").format(
                    _cite(figure(memory[1].kib_per_unit or 0), memory[1]),
                    _cite(figure(memory[0].kib_per_unit or 0), memory[0]),
                )
            )
    return Answer("What does AnyIO cost over the raw library on the same loop?", tuple(sentences))


def _versions(contexts: Sequence[Context]) -> Answer:
    """Contexts that differ only by their anyio tag: how AnyIO's cost over asyncio moved."""
    tagged: dict[str, dict[str, Context]] = defaultdict(dict)
    for context in contexts:
        if match := re.fullmatch(r"(.+)-anyio-(.+)", context.name):
            tagged[match.group(1)][context.versions.get("anyio", match.group(2))] = context
    sentences = []
    for base, by_version in tagged.items():
        if len(by_version) < 2:
            continue
        for group, what in QUESTION_GROUPS.items():
            found = [
                (v, p) for v, c in sorted(by_version.items()) if (p := _pair(c, group, "anyio-asyncio", "asyncio"))
            ]
            if len(found) < 2:
                continue
            (old, (m_old, r_old)), (new, (m_new, r_new)) = found[0], found[-1]
            overlap = r_old.low <= r_new.high and r_new.low <= r_old.high
            verdict = (
                "no change beyond the noise" if overlap else ("cheaper" if r_new.value < r_old.value else "dearer")
            )
            sentences.append(
                Markup("{}: {} costs {} asyncio with anyio {} and {} with anyio {}: {}.").format(
                    base, what, _cite(times(r_old.value), m_old), old, _cite(times(r_new.value), m_new), new, verdict
                )
            )
    return Answer("What changed with the anyio version?", tuple(sentences))


def _behaviour(catalogue: Catalogue | None) -> Answer:
    question = "What changes in behaviour when code moves from asyncio to AnyIO or Trio?"
    if catalogue is None:
        return Answer(question, (Markup("The divergence catalogue is not part of this build."),))
    sentences = []
    for target in ("anyio-asyncio", "trio", "anyio-trio"):
        changed = catalogue.differing(target, "asyncio")
        links = Markup(", ").join(Markup('<a href="#{}">{}</a>').format(e["id"], e["id"]) for e in changed)
        sentences.append(
            Markup("From asyncio to {}: {} of {} catalogued behaviours differ{}{}").format(
                target, len(changed), len(catalogue.entries), Markup(" (") + links + ")" if changed else "", "."
            )
        )
    return Answer(question, tuple(sentences))


def guide(context: Context, contexts: Sequence[Context], catalogue: Catalogue | None) -> list[Answer]:
    """The answers for one result set; every number and comparison word from the results."""
    answers = [_costs(context), _uvloop(context), _fanout(context), _anyio(context), _behaviour(catalogue)]
    answers.append(_versions(contexts))
    return [answer for answer in answers if answer.sentences]


def guide_text(contexts: Sequence[Context], catalogue: Catalogue | None) -> list[str]:
    """The guide as plain lines for the terminal: each result set, its questions, its answers."""
    lines = []
    for context in contexts:
        lines.append(f"Decision guide, {context.name}")
        for answer in guide(context, contexts, catalogue):
            lines.append(f"  {answer.question}")
            lines += [f"  - {sentence.striptags()}" for sentence in answer.sentences]
    return lines


# --- Tables and charts ---------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    text: str
    title: str
    colour: str
    href: str


def cost_table(context: Context) -> list[tuple[str, list[Cell | None]]]:
    """The first screen: every benchmark at its standard size, each flavour against asyncio."""
    rows = []
    for group, n in _standard(context).items():
        base = context.find(group, n, "asyncio")
        cells: list[Cell | None] = []
        for flavour in FLAVOUR_NAMES:
            measure = context.find(group, n, flavour)
            if measure is None or base is None:
                cells.append(None)
                continue
            r = ratio(measure, base)
            title = (
                f"median {figure(measure.median * 1e6)} µs/{measure.unit}, ±{measure.spread:.1%}, "
                f"{measure.values} values; ratio IQR {figure(r.low)}-{figure(r.high)}"
            )
            cells.append(
                Cell(times(r.value), title + (" (within noise)" if r.within_noise else ""), _heat(r), measure.anchor)
            )
        rows.append((f"{TITLES.get(group, group)} (n={n:,})", cells))
    return rows


def _heat(r: Ratio) -> str:
    """Grey within noise; else green when faster, red when slower, stronger with the ratio."""
    if r.within_noise:
        return "hsl(0 0% 90%)"
    strength = min(1.0, abs(math.log(r.value)) / math.log(8))
    hue = 130 if r.value < 1 else 5
    return f"hsl({hue} 70% {95 - 30 * strength:.0f}%)"


@dataclass(frozen=True)
class NumberRow:
    measure: Measure
    label: str
    colour: str
    ratio: Ratio | None


def number_rows(context: Context, group: str, n: int) -> list[NumberRow]:
    """One table: each flavour (and the references, for the fan-out) at size ``n``."""
    found = [m for m in context.measures if m.group == group and m.n == n]
    if group == "fanout":  # the references say what the HTTP client, not the loop, allows
        found += [m for m in context.measures if m.kind == "reference"]
    order = [*FLAVOUR_NAMES, "reference"]
    found.sort(key=lambda m: (m.kind == "reference", order.index(m.flavour) if m.flavour in order else 99, m.group))
    base = context.find(group, n, "asyncio")
    rows = []
    for measure in found:
        label = measure.flavour
        if measure.group == "httpx-serial":
            label = f"ref: httpx 1 at a time, n={measure.n:,} ({measure.flavour})"
        elif measure.kind == "reference":
            label = f"ref: aiohttp on {measure.group.removeprefix('aiohttp-')}"
        same = base is not None and measure.group == group
        rows.append(
            NumberRow(
                measure, label, COLOURS.get(measure.flavour, "#7f7f7f"), ratio(measure, base) if same and base else None
            )
        )
    return rows


def bar_chart(rows: Sequence[NumberRow]) -> Markup:
    """Horizontal bars of µs per unit with the spread drawn as a whisker, as inline SVG."""
    if not rows:
        return Markup("")
    width, label_width, bar_height, gap = 620, 260, 16, 6
    top = max(r.measure.median * (1 + r.measure.spread) for r in rows) * 1e6
    scale = (width - label_width - 70) / top
    height = len(rows) * (bar_height + gap) + gap
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
        f' aria-label="µs per {escape(rows[0].measure.unit)} by flavour">'
    ]
    for index, row in enumerate(rows):
        y = gap + index * (bar_height + gap)
        value = row.measure.median * 1e6
        low, high = value * (1 - row.measure.spread), value * (1 + row.measure.spread)
        parts.append(
            f'<text x="{label_width - 6}" y="{y + bar_height - 4}" text-anchor="end">{escape(row.label)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{value * scale:.1f}" height="{bar_height}" fill="{row.colour}">'
            f"<title>{escape(row.label)}: {figure(value)} µs ±{row.measure.spread:.1%}</title></rect>"
            f'<line x1="{label_width + low * scale:.1f}" x2="{label_width + high * scale:.1f}"'
            f' y1="{y + bar_height / 2}" y2="{y + bar_height / 2}" stroke="#000" stroke-width="1.5"/>'
            f'<text x="{label_width + high * scale + 4:.1f}" y="{y + bar_height - 4}">{figure(value)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def scale_chart(context: Context, group: str) -> Markup:
    """µs per unit against N (both logarithmic), one line per flavour, the spread as whiskers."""
    series = {
        flavour: sorted((m for m in context.measures if m.group == group and m.flavour == flavour), key=lambda m: m.n)
        for flavour in FLAVOUR_NAMES
    }
    series = {f: s for f, s in series.items() if len(s) > 1}
    if not series:
        return Markup("")
    width, height, left, bottom, right, top_margin = 560, 260, 60, 30, 130, 10
    points = [m for s in series.values() for m in s]
    xs = [math.log10(m.n) for m in points]
    ys = [math.log10(m.median * 1e6 * (1 + s)) for m in points for s in (-m.spread, m.spread) if m.spread < 1]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys) - 0.05, max(ys) + 0.05

    def px(n: int) -> float:
        return left + (math.log10(n) - x0) / ((x1 - x0) or 1) * (width - left - right)

    def py(micro: float) -> float:
        return top_margin + (y1 - math.log10(micro)) / ((y1 - y0) or 1) * (height - top_margin - bottom)

    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
        f' aria-label="µs per unit against N for {escape(group)}">',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#555"/>',
        f'<line x1="{left}" y1="{top_margin}" x2="{left}" y2="{height - bottom}" stroke="#555"/>',
    ]
    for n in sorted({m.n for m in points}):
        parts.append(f'<text x="{px(n):.1f}" y="{height - 12}" text-anchor="middle">N={n:,}</text>')
    for label_y in (y0 + 0.05, y1 - 0.05):
        micro = 10**label_y
        parts.append(f'<text x="{left - 4}" y="{py(micro) + 4:.1f}" text-anchor="end">{figure(micro)}</text>')
    for index, (flavour, measures) in enumerate(series.items()):
        colour = COLOURS[flavour]
        path = " ".join(f"{px(m.n):.1f},{py(m.median * 1e6):.1f}" for m in measures)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for m in measures:
            micro = m.median * 1e6
            parts.append(
                f'<line x1="{px(m.n):.1f}" x2="{px(m.n):.1f}" y1="{py(micro * (1 + m.spread)):.1f}"'
                f' y2="{py(max(micro * (1 - m.spread), 1e-9)):.1f}" stroke="{colour}"/>'
                f'<circle cx="{px(m.n):.1f}" cy="{py(micro):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(flavour)} N={m.n:,}: {figure(micro)} µs ±{m.spread:.1%}</title></circle>"
            )
        parts.append(
            f'<rect x="{width - right + 10}" y="{top_margin + index * 18}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{width - right + 26}" y="{top_margin + index * 18 + 11}">{escape(flavour)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


# --- The code, side by side ----------------------------------------------------------------

_BANNER = re.compile(r"^# --- (.+?) -*$")


@dataclass(frozen=True)
class IntendedDifference:
    """A line of one implementation that differs from its mirrors on purpose, and why."""

    module: str
    package: str
    line: int | str
    """The line number, or the line's text (stripped)."""
    reason: str

    def matches(self, number: int, text: str) -> bool:
        return self.line == number if isinstance(self.line, int) else self.line == text.strip()


@dataclass(frozen=True)
class Line:
    number: int
    html: Markup
    kind: str
    """``same`` (in every mirror), ``differs`` (an idiom substituted), ``explained`` (differs, with a reason)."""
    reason: str = ""


@dataclass(frozen=True)
class Section:
    title: str
    cells: Mapping[str, tuple[Line, ...] | None]
    """Per package; None where a package has no such section."""
    absent: str = ""
    """Why a package lacks the section (its banner says whose it is)."""


def _sections(source: str) -> list[tuple[str, list[tuple[int, str]]]]:
    sections: list[tuple[str, list[tuple[int, str]]]] = [("Module", [])]
    for number, line in enumerate(source.splitlines(), start=1):
        if banner := _BANNER.match(line):
            sections.append((banner.group(1), []))
        sections[-1][1].append((number, line))
    return sections


def _comment_blocks(lines: Sequence[tuple[int, str]]) -> Iterable[tuple[str, int]]:
    """Each block of ``#`` comment lines (banners and their commentary excluded), with the
    number of the code line right after it."""
    block: list[str] = []
    for number, line in lines:
        stripped = line.strip()
        if stripped.startswith("#") and not _BANNER.match(stripped):
            block.append(stripped.lstrip("# ").rstrip())
            continue
        if block and stripped and not line.startswith("#"):
            yield " ".join(block), number
        block = []


@functools.cache
def _source(package: str, module: str) -> str:
    return (ROOT / package / f"{module}.py").read_text()


def intended_differences(module: str) -> list[IntendedDifference]:
    """The lines of ``module`` that differ on purpose, with their reasons.

    Derived, until the parity check holds a table of them, from the convention that each
    intended difference carries a one-line reason comment: a comment block inside a code
    block (not a banner's commentary) that the other packages' same section lacks is the
    reason for the code line after it.
    """
    sections = {package: dict(_sections(_source(package, module))) for package in IMPL_PACKAGES}
    found = []
    for package, own in sections.items():
        for title, lines in own.items():
            others = {
                text
                for other in IMPL_PACKAGES
                if other != package
                for text, _ in _comment_blocks(sections[other].get(title, []))
            }
            for text, number in _comment_blocks(lines):
                if text not in others:
                    found.append(IntendedDifference(module, package, number, text))
    return found


def _highlighted(source: str) -> list[Markup]:
    """Pygments HTML of ``source``, one entry per line (its spans are closed per line)."""
    html = highlight(source, PythonLexer(), HtmlFormatter(nowrap=True))
    return [Markup(line) for line in html.split("\n")]


def code_sections(module: str, intended: Sequence[IntendedDifference]) -> list[Section]:
    """``module`` in the three packages, aligned banner by banner; a section only one package
    has (``Only in ...``) sits where that package has it, with an empty cell in the others."""
    parsed = {package: _sections(_source(package, module)) for package in IMPL_PACKAGES}
    html = {package: _highlighted(_source(package, module)) for package in IMPL_PACKAGES}
    shared_titles = [t for t, _ in parsed[IMPL_PACKAGES[0]] if not t.startswith("Only in")]
    texts = {
        (package, title): {line.strip() for _, line in lines if line.strip()}
        for package, sections in parsed.items()
        for title, lines in sections
    }
    ordered: list[tuple[str, str | None]] = []  # (title, the one package that has it, if only one)
    for title in shared_titles:
        for package, sections in parsed.items():
            titles = [t for t, _ in sections]
            position = titles.index(title) if title in titles else len(titles)
            before = titles[:position]
            start = max((i for i, t in enumerate(before) if not t.startswith("Only in")), default=-1) + 1
            ordered += [(t, package) for t in before[start:] if t.startswith("Only in") and (t, package) not in ordered]
        ordered.append((title, None))
    result = []
    for title, owner in ordered:
        cells: dict[str, tuple[Line, ...] | None] = {}
        for package, sections in parsed.items():
            lines = dict(sections).get(title) if owner in (None, package) else None
            if lines is None:
                cells[package] = None
                continue
            mirrors = [texts.get((other, title), set()) for other in IMPL_PACKAGES if other != package]
            cells[package] = tuple(
                _line(number, text, html[package][number - 1], mirrors, [d for d in intended if d.package == package])
                for number, text in lines
            )
        result.append(Section(title, cells, absent=f"{title}" if owner else ""))
    return result


def _line(number: int, text: str, html: Markup, mirrors: list[set[str]], intended: list[IntendedDifference]) -> Line:
    stripped = text.strip()
    if not stripped or stripped.startswith("#") or all(stripped in mirror for mirror in mirrors):
        return Line(number, html, "same")
    reason = next((d.reason for d in intended if d.matches(number, text)), "")
    return Line(number, html, "explained" if reason else "differs", reason)


@dataclass(frozen=True)
class Workload:
    module: str
    summary: Markup
    contract: list[tuple[str, Markup, str]]
    """(signature, first paragraph of the docstring, the whole docstring) per public function."""
    sections: list[Section]
    groups: list[str]
    """The benchmark groups that measure it here (none for the primitives: see "Primitives and scale")."""


def _contract(module: str) -> tuple[Markup, list[tuple[str, Markup, str]]]:
    contract = importlib.import_module(f"shared.{module}")
    protocol = next(
        value
        for value in vars(contract).values()
        if inspect.isclass(value) and getattr(value, "_is_protocol", False) and value.__module__ == contract.__name__
    )
    functions = [
        (
            _signature(name, value),
            _first_paragraph(value.__doc__),
            inspect.cleandoc(value.__doc__ or ""),
        )
        for name, value in vars(protocol).items()
        if inspect.isfunction(value) and not name.startswith("_")
    ]
    return _first_paragraph(contract.__doc__), functions


def _signature(name: str, function: Any) -> str:
    """``name(parameters) -> result`` without ``self`` or the quotes of postponed annotations."""
    text = f"{name}{inspect.signature(function)}".replace("(self, ", "(").replace("(self)", "()")
    return re.sub(r"(: |-> )'([^']*)'", r"\1\2", text)


def _first_paragraph(doc: str | None) -> Markup:
    """The docstring's first paragraph, its reST literals and roles (``x``, :class:`x`) as code."""
    text = escape(" ".join(inspect.cleandoc(doc or "").split("\n\n")[0].split()))
    return Markup(re.sub(r"``(.+?)``|:\w+:`~?(.+?)`", lambda m: f"<code>{m.group(1) or m.group(2)}</code>", text))


def workloads() -> list[Workload]:
    found = []
    for module in shared.MIRRORED:
        summary, contract = _contract(module)
        groups = [module] if module in shared.WORKLOADS else []  # the primitives' numbers have a section of their own
        found.append(Workload(module, summary, contract, code_sections(module, intended_differences(module)), groups))
    return found


# --- The divergence catalogue --------------------------------------------------------------


@dataclass(frozen=True)
class Catalogue:
    """What ``python -m triptych divergences --json`` prints, with each entry's probe code."""

    python: str
    versions: Mapping[str, str]
    flavours: tuple[str, ...]
    entries: tuple[dict[str, Any], ...]

    def differing(self, flavour: str, baseline: str) -> list[dict[str, Any]]:
        """Entries observed on both flavours with different outcomes."""
        found = []
        for entry in self.entries:
            mine, theirs = entry["outcomes"].get(flavour, {}), entry["outcomes"].get(baseline, {})
            if mine.get("not_applicable") or theirs.get("not_applicable"):
                continue
            if mine and theirs and mine.get("observed") != theirs.get("observed"):
                found.append(entry)
        return found


def read_catalogue(data: Mapping[str, Any] | None = None) -> Catalogue | None:
    """The catalogue from ``data`` (the ``divergences --json`` dict), or computed in-process
    by :mod:`triptych.divergences`; None when this build has no catalogue."""
    if data is None:
        try:
            divergences = importlib.import_module("triptych.divergences")
        except ModuleNotFoundError:
            return None
        data = divergences.catalogue()
    probes = _probe_names()
    entries = tuple({**entry, "probe": entry.get("probe") or probes.get(entry["id"], "")} for entry in data["entries"])
    return Catalogue(str(data["python"]), dict(data["versions"]), tuple(data["flavours"]), entries)


def _probe_names() -> dict[str, str]:
    try:
        divergences = importlib.import_module("shared.divergences")
    except ModuleNotFoundError:
        return {}
    return {entry.id: entry.probe for entry in divergences.ENTRIES}


def probe_source(package: str, name: str) -> Markup | None:
    """The highlighted source of the top-level function ``name`` in ``package``, if it has one."""
    for path in sorted((ROOT / package).glob("*.py")):
        source = path.read_text()
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
                text = ast.get_source_segment(source, node) or ""
                return Markup(highlight(text, PythonLexer(), HtmlFormatter(nowrap=True)))
    return None


def outcome(value: Mapping[str, Any]) -> str:
    if value.get("not_applicable"):
        return "n/a"
    observed = value.get("observed")
    return "—" if observed is None else observed if isinstance(observed, str) else json.dumps(observed)


# --- The page ------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")


def _commit() -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return done.stdout.strip()


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("triptych", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals.update(
        figure=figure,
        times=times,
        outcome=outcome,
        colours=COLOURS,
        flavours=FLAVOUR_NAMES,
        packages=IMPL_PACKAGES,
        titles=TITLES,
        number_rows=number_rows,
        bar_chart=bar_chart,
        scale_chart=scale_chart,
        probe_source=probe_source,
    )
    return environment


def build_page(contexts: Sequence[Context], catalogue: Catalogue | None) -> str:
    """The whole page as one HTML string."""
    template = _environment().get_template("page.html.j2")
    views = [
        {
            "context": context,
            "id": _slug(context.name),
            "guide": guide(context, contexts, catalogue),
            "costs": cost_table(context),
            "standard": _standard(context),
            "missing": [f for f in FLAVOUR_NAMES if not any(m.flavour == f for m in context.measures)],
            "scales": [g for g in TITLES if len({m.n for m in context.measures if m.group == g}) > 1],
        }
        for context in contexts
    ]
    found = workloads()
    return template.render(
        views=views,
        context_tabs=[(view["id"], context.name) for view, context in zip(views, contexts, strict=True)],
        workloads=found,
        workload_tabs=[(f"w-{workload.module}", workload.module) for workload in found],
        catalogue=catalogue,
        behaviour=_behaviour(catalogue) if catalogue else None,
        add_numbers=ADD_NUMBERS,
        commit=_commit(),
        built=f"{datetime.now(UTC):%Y-%m-%d %H:%M UTC}",
        pygments_css=_pygments_css(),
    )


def _pygments_css() -> str:
    css: str = HtmlFormatter(style="default").get_style_defs(".code")  # type: ignore[no-untyped-call]
    return css


def write_page(out: Path, contexts: Sequence[Context], catalogue: Catalogue | None) -> Path:
    """Write the page to ``out`` (a file, or a folder that gets ``report.html``); return its path."""
    path = out / "report.html" if out.suffix != ".html" else out
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(build_page(contexts, catalogue), encoding="utf-8")
    return path
