"""Build the report page: one self-contained HTML file a team reads to choose a backend.

The page holds a decision guide computed from the results, each workload's contract and its
three implementations aligned section by section, the numbers with inline SVG charts, the
divergence catalogue, and how the numbers were made. It makes no request of any kind: the
style and the small script (tabs only; everything reads without it) are inlined, the charts
are SVG, the code is highlighted by Pygments at build time.

Three inputs come from elsewhere, each read in one place:

- the results: :func:`read_results`, through :mod:`triptych.results`; every ratio and its
  "within noise" is :func:`triptych.stats.ratio`'s, the terminal report's (against asyncio,
  the interval the runner wrote into the results);
- the divergence catalogue: :func:`read_catalogue`, which runs the probes now
  (:func:`triptych.divergences.observe`);
- the intended differences between mirrored lines: :func:`intended_differences`. Until the
  line-level mirror check holds its table of them, they are derived from the one-line reason
  comments above the lines that differ (STYLE.md: each intended difference carries one);
  that table plugs in there, as a list of :class:`IntendedDifference`.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

import shared
from shared.divergences import ENTRIES
from triptych import mirror, results, stats
from triptych.benchmarks import BENCHMARKS
from triptych.checkout import commit
from triptych.divergences import observe
from triptych.faults import FaultRow
from triptych.flavours import FLAVOUR_NAMES
from triptych.mirror import IntendedLine, ModulePair
from triptych.parity import IMPL_PACKAGES
from triptych.report import FANOUT_LAYERS, standard_rows
from triptych.results import Row
from triptych.stats import Ratio
from triptych.trust import FaultsFile, Trust, proofs

__all__ = [
    "Catalogue",
    "Context",
    "FaultTable",
    "IntendedDifference",
    "Measure",
    "build_page",
    "colours",
    "fault_tables",
    "guide_text",
    "intended_differences",
    "read_catalogue",
    "read_results",
    "write_page",
]

ROOT = Path(shared.__file__).parent.parent
# matplotlib's colour cycle ("C0", "C1", ...), which the PNG plots index by FLAVOUR_NAMES:
# a flavour looks the same on the page and in ratios.png and scale.png.
TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
ADD_NUMBERS = (
    "nox -s compare (writes results/ and results/report.html), or python -m triptych site --out DIR RESULTS..."
)


# --- Results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """One benchmark of one flavour in one context, and the result file it was read from."""

    row: Row
    source: str

    @property
    def anchor(self) -> str:
        return _slug(f"m-{self.row.context}-{self.row.group}-{self.row.n}-{self.row.flavour}")


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
    noise: float | None
    """The host's speed variation during the run (``triptych_noise``)."""
    rounds: int | None
    """Rounds run (``triptych_rounds``)."""
    files: tuple[str, ...]
    measures: tuple[Measure, ...]

    def find(self, group: str, n: int, flavour: str) -> Measure | None:
        return next(
            (m for m in self.measures if (m.row.group, m.row.n, m.row.flavour) == (group, n, flavour)),
            None,
        )

    def tables(self) -> dict[str, list[Measure]]:
        """Each benchmark at its standard size with its references, as the terminal report picks them."""
        by_row = {id(m.row): m for m in self.measures}
        return {
            table[0].group: [by_row[id(row)] for row in table]
            for table in standard_rows([m.row for m in self.measures])
        }

    def standard(self, group: str) -> int | None:
        table = self.tables().get(group)
        return table[0].row.n if table else None

    def title(self, group: str) -> str:
        return next((m.row.title for m in self.measures if m.row.group == group), group)


def read_results(paths: Iterable[Path]) -> list[Context]:
    """Every result set in the files or folders ``paths``, one Context per context name, read
    through :mod:`triptych.results`; ValueError names a path that is missing or holds something else."""
    found: dict[str, list[Measure]] = defaultdict(list)
    metadata: dict[str, dict[str, Any]] = {}
    for file in results.files(paths):
        rows = results.load([file])
        for row in rows:
            found[row.context].append(Measure(row, str(file)))
        if rows and rows[0].context not in metadata:  # one context per file (see triptych.results)
            metadata[rows[0].context] = results.run_metadata(file)
    contexts = []
    for name, measures in sorted(found.items()):
        meta = metadata[name]
        versions = {package: version for m in measures for package, version in m.row.versions.items()}
        noise = meta.get("triptych_noise")
        contexts.append(
            Context(
                name=name,
                machine=str(meta.get("hostname", "?")),
                cpu=str(meta.get("cpu_model_name", "?")),
                cpus=f"{meta.get('cpu_count', '?')} (workers pinned to CPU {meta.get('cpu_affinity', 'none')})",
                platform=str(meta.get("platform", "?")),
                python=f"{meta.get('python_implementation', '')} {meta.get('python_version', '?')}".strip(),
                versions=dict(sorted(versions.items())),
                date=_run_date(next((m.row.run for m in measures if m.row.run), "")),
                profile=str(meta.get("triptych_profile", "unknown")),
                noise=float(noise) if noise is not None else None,
                rounds=int(meta["triptych_rounds"]) if "triptych_rounds" in meta else None,
                files=tuple(sorted({m.source for m in measures})),
                measures=tuple(measures),
            )
        )
    return contexts


def _run_date(run: str) -> str:
    try:
        return datetime.strptime(run.split("-")[0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return "unknown"


def flavour_order(contexts: Sequence[Context]) -> list[str]:
    """FLAVOUR_NAMES, then any other flavour the results hold (e.g. asyncio+eager, measured on
    Python 3.12+, on a page built with 3.11)."""
    found = {m.row.flavour for context in contexts for m in context.measures}
    return [*FLAVOUR_NAMES, *sorted(found - set(FLAVOUR_NAMES))]


def colours(order: Sequence[str]) -> dict[str, str]:
    """One colour per flavour, by its place in ``order``, as the PNG plots colour them."""
    return {flavour: TAB10[index % len(TAB10)] for index, flavour in enumerate(order)}


# --- Ratios and the words for them --------------------------------------------------------


def ratio(measure: Measure, baseline: Measure) -> Ratio:
    """How many times as long ``measure`` takes as ``baseline``: :func:`triptych.stats.ratio`."""
    return stats.ratio(measure.row, baseline.row)


def figure(value: float) -> str:
    """Three significant figures, without an exponent for the sizes met here."""
    if value == 0 or not math.isfinite(value):
        return str(value)
    rounded = float(f"{value:.3g}")
    return f"{rounded:,.{max(0, 2 - math.floor(math.log10(abs(rounded))))}f}"


def times(value: float) -> str:
    return f"{figure(value)}x"


def interval(r: Ratio) -> str:
    """The 95 % interval, and what it was taken from."""
    taken = f"{r.pairs} values paired side by side" if r.pairs else "medians, not timed side by side"
    return f"95 % interval {figure(r.low)}-{figure(r.high)}, from {taken}"


def _cite(text: str, measure: Measure, detail: str = "") -> Markup:
    """A number linked to the table row it comes from, its provenance on hover."""
    row = measure.row
    title = (
        f"{row.title} (n={row.n:,}) on {row.flavour}, {row.context}: median "
        f"{figure(row.median * 1e6)} µs/{row.unit}, ±{row.spread:.1%}, {row.values} values; {measure.source}"
    )
    if detail:
        title += f"; {detail}"
    return Markup('<a class="num" href="#{}" title="{}">{}</a>').format(measure.anchor, title, text)


def compared(r: Ratio, measure: Measure, baseline_name: str) -> Markup:
    """``measure``'s time against a baseline in words: slower, faster, or within noise."""
    number = _cite(times(r.value), measure, interval(r))
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


def _pair(context: Context, group: str, flavour: str, baseline: str) -> tuple[Measure, Ratio] | None:
    n = context.standard(group)
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
            cited = Markup(", ").join(
                Markup("{} {}").format(g, _cite(times(r.value), m, interval(r))) for g, m, r in chosen
            )
            parts.append(Markup("{} in {} of {} ({})").format(label, len(chosen), len(pairs), cited))
    return Markup("; ").join(parts)


def _all_pairs(context: Context, flavour: str, baseline: str) -> list[tuple[str, Measure, Ratio]]:
    found = []
    for group in context.tables():
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
    question = "Why does the httpx fan-out run where it does?"
    table = context.tables().get("fanout")
    if table is None:
        return Answer(question, ())
    flavoured = [m for m in table if m.row.kind != "reference"]
    sentences = []
    fastest = min(flavoured, key=lambda m: stats.level(m.row))
    slowest = max(flavoured, key=lambda m: stats.level(m.row))
    sentences.append(
        Markup("{} is the fastest flavour at {} µs per request; {} takes {}.").format(
            fastest.row.flavour,
            _cite(figure(fastest.row.median * 1e6), fastest),
            slowest.row.flavour,
            compared(ratio(slowest, fastest), slowest, fastest.row.flavour),
        )
    )
    if aiohttp := [m for m in table if m.row.group == "aiohttp"]:
        best = min(aiohttp, key=lambda m: m.row.median)
        against = ratio(best, fastest)
        faster = not against.within_noise and against.value < 1
        verdict = (
            "the HTTP client, more than the loop, sets the pace"
            if faster
            else "here the client is not what limits the fan-out"
        )
        sentences.append(
            Markup("aiohttp on {} with the same {} in flight takes {}: {}.").format(
                best.row.flavour,
                best.row.params.get("limit", "?"),
                compared(against, best, f"httpx on {fastest.row.flavour}"),
                verdict,
            )
        )
    serial = {m.row.flavour: m for m in table if m.row.group == "httpx-serial"}
    if gains := [(serial[m.row.flavour].row.median / m.row.median, m) for m in flavoured if m.row.flavour in serial]:
        low, high = min(gains, key=lambda g: g[0]), max(gains, key=lambda g: g[0])
        sentences.append(
            Markup("With {} in flight each flavour runs httpx at {} to {} its own one-request-at-a-time rate.").format(
                fastest.row.params.get("limit", "?"), _cite(times(low[0]), low[1]), _cite(times(high[0]), high[1])
            )
        )
    # Each reference swaps one layer for another on the same loop, so their ratios say what
    # each layer costs (README, "The fan-out's I/O layer").
    by_row = {(m.row.group, m.row.flavour): m for m in table}
    for upper, lower, layer in FANOUT_LAYERS:
        if (above := by_row.get((upper, "asyncio"))) and (below := by_row.get((lower, "asyncio"))):
            sentences.append(
                Markup("On asyncio, {} takes {}: that is {}.").format(
                    above.row.title, compared(ratio(above, below), above, below.row.title), layer
                )
            )
    sentences.append(
        Markup(
            "These rows compare I/O layers as much as loops: httpx on asyncio and uvloop runs over "
            "httpcore's AnyIO network backend, on Trio over httpcore's Trio backend (so in httpcore "
            '<a href="{}">1.0.9</a>; this set has httpcore {}). A different client (see aiohttp above) '
            "or a different network backend would change them more than a different loop."
        ).format(HTTPCORE_BACKENDS, context.versions.get("httpcore", "not recorded"))
    )
    return Answer(question, tuple(sentences))


def _anyio(context: Context) -> Answer:
    sentences = []
    for flavour, raw in RAW.items():
        if pairs := _all_pairs(context, flavour, raw):
            worst = max(pairs, key=lambda p: p[2].value)
            sentences.append(
                Markup("{} against raw {} on the same loop: ").format(flavour, raw)
                + _verdicts(pairs)
                + Markup("; the most in {}.").format(QUESTION_GROUPS.get(worst[0], context.title(worst[0])))
            )
    spawn = context.standard("spawn_join")
    if spawn:
        memory = [m for f in ("asyncio", "anyio-asyncio") if (m := context.find("spawn_join", spawn, f))]
        if len(memory) == 2 and all(m.row.kib_per_unit for m in memory):
            sentences.append(
                Markup("Memory per task spawned: {} KiB on anyio-asyncio against {} on asyncio.").format(
                    _cite(figure(memory[1].row.kib_per_unit or 0), memory[1]),
                    _cite(figure(memory[0].row.kib_per_unit or 0), memory[0]),
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
            verdict = (
                "no change beyond the noise"
                if r_old.overlaps(r_new)
                else ("cheaper" if r_new.value < r_old.value else "dearer")
            )
            sentences.append(
                Markup("{}: {} costs {} asyncio with anyio {} and {} with anyio {}: {}.").format(
                    base,
                    what,
                    _cite(times(r_old.value), m_old, interval(r_old)),
                    old,
                    _cite(times(r_new.value), m_new, interval(r_new)),
                    new,
                    verdict,
                )
            )
    return Answer("What changed with the anyio version?", tuple(sentences))


def _behaviour(catalogue: Catalogue) -> Answer:
    sentences = []
    for target in ("anyio-asyncio", "trio", "anyio-trio"):
        changed = catalogue.differing(target, "asyncio")
        links = Markup(", ").join(Markup('<a href="#{}">{}</a>').format(e["id"], e["id"]) for e in changed)
        sentences.append(
            Markup("From asyncio to {}: {} of {} catalogued behaviours differ{}{}").format(
                target, len(changed), len(catalogue.entries), Markup(" (") + links + ")" if changed else "", "."
            )
        )
    return Answer("What changes in behaviour when code moves from asyncio to AnyIO or Trio?", tuple(sentences))


def guide(context: Context, contexts: Sequence[Context], catalogue: Catalogue) -> list[Answer]:
    """The answers for one result set; every number and comparison word from the results."""
    answers = [_costs(context), _uvloop(context), _fanout(context), _anyio(context), _behaviour(catalogue)]
    answers.append(_versions(contexts))
    return [answer for answer in answers if answer.sentences]


def guide_text(contexts: Sequence[Context], catalogue: Catalogue) -> list[str]:
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


def cost_table(context: Context, order: Sequence[str]) -> list[tuple[str, list[Cell | None]]]:
    """The first screen: every benchmark at its standard size, each flavour against asyncio."""
    rows = []
    for group, table in context.tables().items():
        n = table[0].row.n
        base = context.find(group, n, "asyncio")
        cells: list[Cell | None] = []
        for flavour in order:
            measure = context.find(group, n, flavour)
            if measure is None or base is None:
                cells.append(None)
                continue
            r = ratio(measure, base)
            row = measure.row
            title = (
                f"median {figure(row.median * 1e6)} µs/{row.unit}, ±{row.spread:.1%}, {row.values} values; "
                f"{interval(r)}"
            )
            cells.append(
                Cell(times(r.value), title + (" (within noise)" if r.within_noise else ""), _heat(r), measure.anchor)
            )
        rows.append((f"{context.title(group)} (n={n:,})", cells))
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
    ratio: Ratio | None


def number_rows(context: Context, group: str) -> list[NumberRow]:
    """One benchmark's table as the terminal prints it: each flavour at the standard size, then
    its references, each against the benchmark's asyncio row."""
    table = context.tables().get(group, [])
    order = flavour_order([context])
    table = sorted(table, key=lambda m: (m.row.kind == "reference", m.row.group, order.index(m.row.flavour)))
    base = next((m for m in table if m.row.flavour == "asyncio" and m.row.group == group), None)
    return [
        NumberRow(
            measure,
            measure.row.flavour
            if measure.row.kind != "reference"
            else f"ref: {measure.row.title} ({measure.row.flavour})",
            ratio(measure, base) if base is not None and measure is not base else None,
        )
        for measure in table
    ]


def bar_chart(rows: Sequence[NumberRow], colour: Mapping[str, str]) -> Markup:
    """Horizontal bars of µs per unit with the spread drawn as a whisker, as inline SVG."""
    if not rows:
        return Markup("")
    width, label_width, bar_height, gap = 620, 260, 16, 6
    top = max(r.measure.row.median * (1 + r.measure.row.spread) for r in rows) * 1e6
    scale = (width - label_width - 70) / top
    height = len(rows) * (bar_height + gap) + gap
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
        f' aria-label="µs per {escape(rows[0].measure.row.unit)} by flavour">'
    ]
    for index, number in enumerate(rows):
        row = number.measure.row
        y = gap + index * (bar_height + gap)
        value = row.median * 1e6
        low, high = value * (1 - row.spread), value * (1 + row.spread)
        faint = ' opacity="0.5"' if row.kind == "reference" else ""  # a reference is a ceiling, not a flavour
        parts.append(
            f'<text x="{label_width - 6}" y="{y + bar_height - 4}" text-anchor="end">{escape(number.label)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{value * scale:.1f}" height="{bar_height}"'
            f' fill="{colour[row.flavour]}"{faint}>'
            f"<title>{escape(number.label)}: {figure(value)} µs ±{row.spread:.1%}</title></rect>"
            f'<line x1="{label_width + low * scale:.1f}" x2="{label_width + high * scale:.1f}"'
            f' y1="{y + bar_height / 2}" y2="{y + bar_height / 2}" stroke="#000" stroke-width="1.5"/>'
            f'<text x="{label_width + high * scale + 4:.1f}" y="{y + bar_height - 4}">{figure(value)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def scale_groups(context: Context) -> list[str]:
    """The benchmarks measured at several sizes in this set."""
    sizes: dict[str, set[int]] = defaultdict(set)
    for m in context.measures:
        if m.row.kind != "reference":
            sizes[m.row.group].add(m.row.n)
    return [group for group, found in sizes.items() if len(found) > 1]


def scale_chart(context: Context, group: str, colour: Mapping[str, str]) -> Markup:
    """µs per unit against N (both logarithmic), one line per flavour, the spread as whiskers."""
    series = {
        flavour: sorted(
            (m.row for m in context.measures if m.row.group == group and m.row.flavour == flavour), key=lambda r: r.n
        )
        for flavour in flavour_order([context])
    }
    series = {f: s for f, s in series.items() if len(s) > 1}
    if not series:
        return Markup("")
    width, height, left, bottom, right, top_margin = 560, 260, 60, 30, 130, 10
    points = [r for s in series.values() for r in s]
    xs = [math.log10(r.n) for r in points]
    ys = [math.log10(r.median * 1e6 * (1 + s)) for r in points for s in (-r.spread, r.spread) if r.spread < 1]
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
    for n in sorted({r.n for r in points}):
        parts.append(f'<text x="{px(n):.1f}" y="{height - 12}" text-anchor="middle">N={n:,}</text>')
    for label_y in (y0 + 0.05, y1 - 0.05):
        micro = 10**label_y
        parts.append(f'<text x="{left - 4}" y="{py(micro) + 4:.1f}" text-anchor="end">{figure(micro)}</text>')
    for index, (flavour, rows) in enumerate(series.items()):
        path = " ".join(f"{px(r.n):.1f},{py(r.median * 1e6):.1f}" for r in rows)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour[flavour]}" stroke-width="2"/>')
        for r in rows:
            micro = r.median * 1e6
            parts.append(
                f'<line x1="{px(r.n):.1f}" x2="{px(r.n):.1f}" y1="{py(micro * (1 + r.spread)):.1f}"'
                f' y2="{py(max(micro * (1 - r.spread), 1e-9)):.1f}" stroke="{colour[flavour]}"/>'
                f'<circle cx="{px(r.n):.1f}" cy="{py(micro):.1f}" r="3" fill="{colour[flavour]}">'
                f"<title>{escape(flavour)} N={r.n:,}: {figure(micro)} µs ±{r.spread:.1%}</title></circle>"
            )
        parts.append(
            f'<rect x="{width - right + 10}" y="{top_margin + index * 18}" width="12" height="12"'
            f' fill="{colour[flavour]}"/>'
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


@functools.cache
def _source(package: str, module: str) -> str:
    return (ROOT / package / f"{module}.py").read_text()


def intended_differences(
    module: str, table: Mapping[ModulePair, list[IntendedLine]] | None = None
) -> list[IntendedDifference]:
    """The lines of ``module`` that differ on purpose, with their reasons: the line-level
    mirror check's table (``triptych/mirror.toml``, or ``table`` as :func:`triptych.mirror.intended_differences`
    returned it), each line once, on whichever side."""
    found: dict[tuple[str, int], IntendedDifference] = {}
    for pair, lines in (mirror.intended_differences() if table is None else table).items():
        if pair.module == module:
            for line in lines:
                if line.text.strip():  # a blank line in a differing block has nothing to show
                    found[line.package, line.line] = IntendedDifference(module, line.package, line.line, line.reason)
    return sorted(found.values(), key=lambda d: (d.package, int(d.line)))


def _highlighted(source: str) -> list[Markup]:
    """Pygments HTML of ``source``, one entry per line (its spans are closed per line)."""
    html = highlight(source, PythonLexer(), HtmlFormatter(nowrap=True))
    return [Markup(line) for line in html.split("\n")]


def code_sections(module: str, intended: Sequence[IntendedDifference]) -> list[Section]:
    """``module`` in the three packages, aligned banner by banner; a section not every package
    has (``Only in ...``) sits where its packages have it, with an empty cell in the others."""
    parsed = {package: _sections(_source(package, module)) for package in IMPL_PACKAGES}
    html = {package: _highlighted(_source(package, module)) for package in IMPL_PACKAGES}
    shared_titles = [t for t, _ in parsed[IMPL_PACKAGES[0]] if not t.startswith("Only in")]
    texts = {
        (package, title): {line.strip() for _, line in lines if line.strip()}
        for package, sections in parsed.items()
        for title, lines in sections
    }
    ordered: list[tuple[str, set[str] | None]] = []  # (title, the packages that have it, if not all)
    for title in [*shared_titles, None]:  # None: the "Only in" sections after the last shared one
        for package, sections in parsed.items():
            titles = [t for t, _ in sections]
            before = titles[: titles.index(title)] if title in titles else titles
            start = max((i for i, t in enumerate(before) if not t.startswith("Only in")), default=-1) + 1
            for only in (t for t in before[start:] if t.startswith("Only in")):
                owners = next((o for t, o in ordered if t == only and o is not None), None)
                if owners is None:
                    ordered.append((only, {package}))
                else:
                    owners.add(package)
        if title is not None:
            ordered.append((title, None))
    result = []
    for title, owners in ordered:
        cells: dict[str, tuple[Line, ...] | None] = {}
        for package, sections in parsed.items():
            lines = dict(sections).get(title) if owners is None or package in owners else None
            if lines is None:
                cells[package] = None
                continue
            mirrors = [texts.get((other, title), set()) for other in IMPL_PACKAGES if other != package]
            cells[package] = tuple(
                _line(number, text, html[package][number - 1], mirrors, [d for d in intended if d.package == package])
                for number, text in lines
            )
        result.append(Section(title, cells, absent=title if owners else ""))
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


def _benchmark_groups(module: str) -> list[str]:
    """The workload benchmarks of ``module``: named after it (``offload``, ``offload-parallel``).
    The primitives' benchmarks have a section of their own."""
    named = (b.group for b in BENCHMARKS.values() if b.kind == "workload")
    return list(dict.fromkeys(g for g in named if g == module or g.startswith(f"{module}-")))


@functools.cache
def workloads() -> tuple[Workload, ...]:
    """Each workload's contract and code, side by side: read from the source once per process."""
    table = mirror.intended_differences()
    found = []
    for module in shared.MIRRORED:
        summary, contract = _contract(module)
        groups = _benchmark_groups(module)
        found.append(
            Workload(module, summary, contract, code_sections(module, intended_differences(module, table)), groups)
        )
    return tuple(found)


# --- The divergence catalogue --------------------------------------------------------------


@dataclass(frozen=True)
class Catalogue:
    """What :func:`triptych.divergences.observe` returns, with each entry's probe name."""

    python: str
    versions: Mapping[str, str | None]
    flavours: tuple[str, ...]
    entries: tuple[dict[str, Any], ...]

    def differing(self, flavour: str, baseline: str) -> list[dict[str, Any]]:
        """Entries observed on both flavours with different outcomes (a probe that broke on
        either is not an observation)."""
        found = []
        for entry in self.entries:
            mine, theirs = entry["outcomes"].get(flavour, {}), entry["outcomes"].get(baseline, {})
            if not mine or not theirs or any(o.get("not_applicable") or "error" in o for o in (mine, theirs)):
                continue
            if mine.get("observed") != theirs.get("observed"):
                found.append(entry)
        return found


def read_catalogue(data: Mapping[str, Any] | None = None) -> Catalogue:
    """The catalogue from ``data`` (the dict of ``triptych divergences --json``), or observed
    now: :func:`triptych.divergences.observe` runs every probe on every installed flavour."""
    if data is None:
        data = observe()
    probes = {entry.id: entry.probe for entry in ENTRIES}
    entries = tuple({**entry, "probe": entry.get("probe") or probes.get(entry["id"], "")} for entry in data["entries"])
    return Catalogue(str(data["python"]), dict(data["versions"]), tuple(data["flavours"]), entries)


def probe_source(package: str, name: str) -> Markup | None:
    """The highlighted source of the top-level function ``name`` in ``package``, if it has one."""
    text = _functions(package).get(name)
    return None if text is None else Markup(highlight(text, PythonLexer(), HtmlFormatter(nowrap=True)))


@functools.cache
def _functions(package: str) -> dict[str, str]:
    """The source of each top-level function in ``package``, by name (the first one of a name)."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / package).glob("*.py")):
        source = path.read_text()
        lines = source.splitlines()  # once: ast.get_source_segment splits the whole file per call
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found.setdefault(node.name, "\n".join(lines[node.lineno - 1 : node.end_lineno]))
    return found


def outcome(value: Mapping[str, Any]) -> str:
    if value.get("not_applicable"):
        return "n/a"
    if "error" in value:
        return f"probe failed: {value['error']}"
    observed = value.get("observed")
    return "—" if observed is None else observed if isinstance(observed, str) else json.dumps(observed)


# --- The page ------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")


@functools.cache
def _environment() -> jinja2.Environment:
    """One per process, so that the template is compiled once."""
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
        interval=interval,
        outcome=outcome,
        packages=IMPL_PACKAGES,
        number_rows=number_rows,
        bar_chart=bar_chart,
        scale_chart=scale_chart,
        probe_source=probe_source,
        fault_tables=fault_tables,
        slug=_slug,
    )
    return environment


def within_noise(context: Context) -> tuple[int, int]:
    """How many of the context's ratios to asyncio (every benchmark at its standard size, every
    other flavour) are within noise, and of how many."""
    found = [
        ratio(measure, base).within_noise
        for table in context.tables().values()
        if (base := context.find(table[0].row.group, table[0].row.n, "asyncio"))
        for measure in table
        if measure.row.group == base.row.group and measure.row.flavour != "asyncio"
    ]
    return sum(found), len(found)


@dataclass(frozen=True)
class FaultTable:
    """One workload's part of a fault matrix: faults down, calls across."""

    workload: str
    calls: tuple[str, ...]
    rows: tuple[tuple[str, tuple[FaultRow | None, ...]], ...]
    """(fault, the row of each call, None where the matrix has no such cell)."""


def fault_tables(found: FaultsFile) -> list[FaultTable]:
    """``found``'s rows as one table per workload, in the order the matrix ran them."""
    tables = []
    for workload, rows in found.workloads().items():
        calls = tuple(dict.fromkeys(row.call for row in rows))
        cells = {(row.fault, row.call): row for row in rows}
        faults = dict.fromkeys(row.fault for row in rows)
        tables.append(FaultTable(workload, calls, tuple((f, tuple(cells.get((f, c)) for c in calls)) for f in faults)))
    return tables


def build_page(contexts: Sequence[Context], catalogue: Catalogue, trust: Trust | None = None) -> str:
    """The whole page as one HTML string; ``trust``: the trust files found (none by default)."""
    template = _environment().get_template("page.html.j2")
    order = flavour_order(contexts)
    views = [
        {
            "context": context,
            "id": _slug(context.name),
            "guide": guide(context, contexts, catalogue),
            "costs": cost_table(context, order),
            "tables": list(context.tables()),
            "missing": [f for f in FLAVOUR_NAMES if not any(m.row.flavour == f for m in context.measures)],
            "scales": scale_groups(context),
            "within_noise": within_noise(context),
        }
        for context in contexts
    ]
    found = workloads()
    return template.render(
        views=views,
        context_tabs=[(view["id"], context.name) for view, context in zip(views, contexts, strict=True)],
        workloads=found,
        workload_groups={group for workload in found for group in workload.groups},
        workload_tabs=[(f"w-{workload.module}", workload.module) for workload in found],
        flavours=order,
        colours=colours([*order, *(f for f in catalogue.flavours if f not in order)]),
        catalogue=catalogue,
        behaviour=_behaviour(catalogue),
        add_numbers=ADD_NUMBERS,
        trust=trust or Trust(),
        proofs=proofs(),
        commit=commit(),
        built=f"{datetime.now(UTC):%Y-%m-%d %H:%M UTC}",
        pygments_css=_pygments_css(),
    )


def _pygments_css() -> str:
    css: str = HtmlFormatter(style="default").get_style_defs(".code")  # type: ignore[no-untyped-call]
    return css


def write_page(out: Path, contexts: Sequence[Context], catalogue: Catalogue, trust: Trust | None = None) -> Path:
    """Write the page to ``out`` (a file, or a folder that gets ``report.html``); return its path."""
    path = out / "report.html" if out.suffix != ".html" else out
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(build_page(contexts, catalogue, trust), encoding="utf-8")
    return path
