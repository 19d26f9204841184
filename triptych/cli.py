"""``triptych``: run the workloads on every flavour and print what happened.

triptych fanout [--requests N] [--limit L] [--delay-ms D] [--fail-every K] [--flavour NAME ...]
triptych bench [--profile quick|full] [--flavour NAME ...] [--python FLAVOUR=EXE ...] [--out DIR] [--tag TAG]
               [--benchmark NAME ...]
triptych report [PATH ...] [--plots DIR] [--html FILE]
triptych site --out DIR [PATH ...]
triptych agreement FIRST SECOND [--within PERCENT]
triptych divergences [--json] [--flavour NAME ...]
triptych faults [--out DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from triptych.flavours import ALL_FLAVOUR_NAMES, FLAVOUR_NAMES, FLAVOURS, Flavour, FlavourUnavailable, get
from triptych.server import LoopbackServer

if TYPE_CHECKING:
    from triptych.results import Row

__all__ = ["main"]


@dataclass(frozen=True)
class FanoutRow:
    flavour: str
    requests: int
    ok: int
    errors: int
    max_in_flight: int
    seconds: float


def _fanout_urls(server: LoopbackServer, requests: int, delay_ms: int, fail_every: int) -> list[str]:
    urls = []
    for index in range(requests):
        if fail_every and index % fail_every == fail_every - 1:
            urls.append(f"{server.url}/status/503")
        else:
            urls.append(f"{server.url}/bytes/256?delay={delay_ms}")
    return urls


def run_fanout(flavour: Flavour, server: LoopbackServer, urls: list[str], limit: int) -> FanoutRow:
    """Run ``fetch_all`` once on ``flavour``; the wall time is taken inside the loop."""
    fanout = flavour.workload("fanout")

    async def timed() -> tuple[int, int, float]:
        started = time.perf_counter()
        results = await fanout.fetch_all(urls, limit=limit)
        elapsed = time.perf_counter() - started
        ok = sum(result.ok for result in results)
        return ok, len(results) - ok, elapsed

    server.reset()
    ok, errors, seconds = flavour.run(timed)
    return FanoutRow(flavour.name, len(urls), ok, errors, server.stats().max_in_flight, seconds)


def _versions() -> str:
    parts = [f"Python {platform.python_version()}"]
    for package in ("anyio", "trio", "httpx", "httpcore", "uvloop"):
        try:
            parts.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{package} (not installed)")
    return ", ".join(parts)


def _fanout_command(args: argparse.Namespace, console: Console) -> int:
    flavours = [get(name) for name in args.flavour] if args.flavour else list(FLAVOURS)
    table = Table(
        title=f"fan-out: {args.requests} GETs, at most {args.limit} in flight, {args.delay_ms} ms server delay"
    )
    for column in ("flavour", "requests", "ok", "errors", "max in flight", "wall time", "req/s"):
        table.add_column(column, justify="left" if column == "flavour" else "right", no_wrap=True)
    failed = 0
    with LoopbackServer() as server:
        urls = _fanout_urls(server, args.requests, args.delay_ms, args.fail_every)
        for flavour in flavours:
            try:
                row = run_fanout(flavour, server, urls, args.limit)
            except FlavourUnavailable as exc:
                failed += 1
                table.add_row(flavour.name, str(args.requests), "-", "-", "-", "-", "-")
                console.print(f"[red]{exc}[/red]")
                continue
            table.add_row(
                row.flavour,
                str(row.requests),
                str(row.ok),
                str(row.errors),
                str(row.max_in_flight),
                f"{row.seconds:.3f} s",
                f"{row.requests / row.seconds:,.0f}",
            )
    console.print(table)
    console.print(f"[dim]{_versions()}; loopback server in its own process[/dim]")
    return 1 if failed else 0


def _bench_command(args: argparse.Namespace, console: Console) -> int:
    from triptych.benchmarks import PROFILES
    from triptych.report import report
    from triptych.results import load
    from triptych.runner import run_benchmarks

    interpreters = dict(args.python or [])
    flavours = args.flavour or ([] if args.python else list(FLAVOUR_NAMES))
    chosen = {name: interpreters.get(name, sys.executable) for name in flavours}
    chosen.update(interpreters)
    profile = PROFILES[args.profile]
    if args.benchmark:
        profile = dataclasses.replace(profile, benchmarks=tuple(dict.fromkeys(args.benchmark)))
    outcome = run_benchmarks(profile, chosen, Path(args.out), tag=args.tag, console=console)
    rows = load(outcome.written)
    report(rows, console)
    console.print(f"[dim]results: {', '.join(str(p) for p in outcome.written)}[/dim]")
    _plot(rows, Path(args.out), console)
    _page(outcome.written, Path(args.out) / "report.html", console, trust=[Path(args.out)])
    if outcome.interrupted:
        console.print("[yellow]interrupted: the files above hold every value measured before[/yellow]")
        return 130  # as a shell reports a command stopped by Ctrl-C
    if outcome.failed:
        console.print(f"[red]failed: {'; '.join(outcome.failed)}[/red]")
        return 1
    return 0


def _report_command(args: argparse.Namespace, console: Console) -> int:
    from triptych.report import report
    from triptych.results import load

    try:
        rows = load(Path(p) for p in args.paths)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    if not rows:
        console.print(f"[red]no results in {', '.join(args.paths)}[/red]")
        return 1
    report(rows, console)
    if args.plots:
        _plot(rows, Path(args.plots), console)
    _page([Path(p) for p in args.paths], Path(args.html), console, trust=[Path(p) for p in args.paths])
    return 0


def _page(results: Sequence[Path], out: Path, console: Console, *, trust: Sequence[Path]) -> bool:
    """Write the page of ``results``, of the catalogue (observed now) and of the trust files in
    the folders ``trust`` to ``out`` and print the guide's sentences; return whether it has
    numbers on it."""
    from triptych.site import guide_text, read_catalogue, read_results, write_page
    from triptych.trust import read_trust

    contexts, catalogue, found = read_results(results), read_catalogue(), read_trust(trust)
    for line in guide_text(contexts, catalogue):
        console.print(line, markup=False, highlight=False)
    console.print(f"page: {write_page(out, contexts, catalogue, found)}")
    return bool(contexts)


def _site_command(args: argparse.Namespace, console: Console) -> int:
    from triptych.site import ADD_NUMBERS

    try:
        paths = [Path(p) for p in args.paths]
        has_numbers = _page(paths, Path(args.out), console, trust=paths)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    if not has_numbers:
        console.print(f"no numbers on it: to add them, run {ADD_NUMBERS}")
    return 0


def _plot(rows: list[Row], out_dir: Path, console: Console) -> None:
    try:
        from triptych.plots import write_plots
    except ImportError:  # matplotlib is an extra
        console.print("[yellow]no plots: matplotlib is not installed (pip install 'triptych[plot]')[/yellow]")
        return
    if rows:
        console.print(f"[dim]plots: {', '.join(str(p) for p in write_plots(rows, out_dir))}[/dim]")


def _agreement_command(args: argparse.Namespace, console: Console) -> int:
    from triptych.agreement import agreement
    from triptych.results import load

    try:
        first, second = load([Path(args.first)]), load([Path(args.second)])
        for path, rows in ((args.first, first), (args.second, second)):
            if not rows:
                raise ValueError(f"no results in {path}")
        return 0 if agreement(first, second, console, within=args.within / 100) else 1
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2


def _divergences_command(args: argparse.Namespace, console: Console) -> int:
    from triptych.divergences import installed_flavours, observe, print_matrix, to_json

    flavours = installed_flavours([get(name) for name in args.flavour] if args.flavour else FLAVOURS)
    matrix = observe(flavours)
    if args.json:
        print(to_json(matrix))
    else:
        print_matrix(matrix, console)
    broken = any("error" in outcome for entry in matrix["entries"] for outcome in entry["outcomes"].values())
    return 1 if broken else 0


def _faults_command(args: argparse.Namespace, console: Console) -> int:
    from triptych.trust import write_faults

    path, rows = write_faults(Path(args.out))
    flavours = len({name for row in rows for name in row.observed})
    for row in rows:
        if not row.agrees:
            seen = "; ".join(f"{name}: {cell.outcome} in {cell.seconds:.2f} s" for name, cell in row.observed.items())
            console.print(f"[red]{row.workload} {row.call} / {row.fault}: expected {row.expected}; {seen}[/red]")
    agreeing = sum(row.agrees for row in rows)
    console.print(f"fault matrix: {agreeing} of {len(rows)} cells alike on all {flavours} flavours; {path}")
    return 0 if agreeing == len(rows) else 1


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def _flavour_python(text: str) -> tuple[str, str]:
    flavour, equals, python = text.partition("=")
    if not equals or flavour not in ALL_FLAVOUR_NAMES:
        names = ", ".join(ALL_FLAVOUR_NAMES)
        raise argparse.ArgumentTypeError(f"expected FLAVOUR=EXE with FLAVOUR one of {names}")
    if not (shutil.which(python) or Path(python).is_file()):
        raise argparse.ArgumentTypeError(f"no interpreter at {python!r}")
    return flavour, python


def _benchmark_name(text: str) -> str:
    from triptych.benchmarks import BENCHMARKS

    if text not in BENCHMARKS:
        raise argparse.ArgumentTypeError(f"unknown benchmark {text!r}; `triptych bench --help` says how they are named")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="triptych", description="asyncio, Trio and AnyIO, side by side.")
    commands = parser.add_subparsers(dest="command", required=True)
    fanout = commands.add_parser("fanout", help="fetch many URLs from the loopback server on every flavour")
    fanout.add_argument("--requests", type=_count(1), default=2000, help="GETs per flavour (default 2000)")
    fanout.add_argument("--limit", type=_count(1), default=100, help="most in flight at once (default 100)")
    fanout.add_argument("--delay-ms", type=_count(0), default=50, help="server delay per response (default 50)")
    fanout.add_argument("--fail-every", type=_count(0), default=0, help="make every K-th URL answer 503")
    fanout.add_argument("--flavour", action="append", choices=FLAVOUR_NAMES, help="repeatable; default all six")
    bench = commands.add_parser("bench", help="benchmark flavours in fresh processes and print the comparison")
    bench.add_argument("--profile", choices=["quick", "full"], default="quick")
    bench.add_argument("--flavour", action="append", choices=FLAVOUR_NAMES, help="repeatable; default all six")
    bench.add_argument(
        "--python", action="append", type=_flavour_python, metavar="FLAVOUR=EXE", help="run FLAVOUR with this python"
    )
    bench.add_argument("--out", default="results", help="folder for the pyperf files (default results/)")
    bench.add_argument("--tag", default="", help="appended to the context name, e.g. anyio-4.13")
    bench.add_argument(
        "--benchmark",
        action="append",
        type=_benchmark_name,
        metavar="NAME",
        help="repeatable; measure only these, named as in the results, e.g. 'spawn_join[n=1000]'",
    )
    show = commands.add_parser("report", help="print the comparison of result files or folders")
    show.add_argument("paths", nargs="*", default=["results"])
    show.add_argument("--plots", metavar="DIR", help="also draw the comparison as PNG files under DIR/<context>/")
    show.add_argument("--html", default="report.html", help="where to write the page (default report.html)")
    site = commands.add_parser("site", help="write the page: the code side by side, the catalogue, and any results")
    site.add_argument("--out", required=True, help="a folder (the page is DIR/report.html) or a .html file")
    site.add_argument("paths", nargs="*", help="result files or folders; none gives the page without numbers")
    agree = commands.add_parser("agreement", help="how far apart two runs put each ratio to asyncio")
    agree.add_argument("first", help="results of one run: a folder or file")
    agree.add_argument("second", help="results of another run of the same context")
    agree.add_argument("--within", type=float, default=5.0, help="percent; exit 1 if any ratio is further apart")
    catalogue = commands.add_parser(
        "divergences", help="run the divergence catalogue's probes now and print the matrix"
    )
    catalogue.add_argument("--json", action="store_true", help="print the matrix as JSON, for the report")
    catalogue.add_argument(
        "--flavour", action="append", choices=FLAVOUR_NAMES, help="repeatable; default all installed"
    )
    faults = commands.add_parser("faults", help="run the fault matrix on every flavour and write faults.json")
    faults.add_argument("--out", default="results", help="folder for faults.json (default results/)")
    args = parser.parse_args(argv)
    commands_by_name = {
        "fanout": _fanout_command,
        "bench": _bench_command,
        "report": _report_command,
        "agreement": _agreement_command,
        "divergences": _divergences_command,
        "site": _site_command,
        "faults": _faults_command,
    }
    command = commands_by_name[args.command]
    # Wide enough for the tables when the output is a file or a nox log, not a terminal.
    return command(args, Console(width=None if sys.stdout.isatty() else 150))


if __name__ == "__main__":
    sys.exit(main())
