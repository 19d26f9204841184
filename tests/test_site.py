"""The report page: built from fixed result sets, checked for structure, self-containment,
numbers equal to the results, and sentences that follow the numbers.

The real-browser check (no request, no console error, layout, keyboard) is
``tests/browser_check.py``, run by ``nox -s browser``.
"""

from __future__ import annotations

import dataclasses
import io
import math
import platform
import re
import statistics
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console

import shared
from shared.divergences import ENTRIES
from tests.site_fixtures import (
    AIOHTTP,
    NOISY,
    ROUNDS,
    TYPICAL,
    VALUES,
    catalogue,
    write_faults,
    write_fuzz,
    write_results,
    write_stress,
)
from triptych import server, stats
from triptych.cli import main
from triptych.faults import FAULTS, Cell, bound_of, calls_of, faults_of
from triptych.flavours import FLAVOUR_NAMES
from triptych.parity import IMPL_PACKAGES
from triptych.report import report
from triptych.results import load
from triptych.site import (
    HTTPCORE_BACKENDS,
    IntendedDifference,
    build_page,
    code_sections,
    figure,
    guide_text,
    intended_differences,
    ratio,
    read_catalogue,
    read_results,
    write_page,
)
from triptych.trust import read_trust

SECTIONS = ("guide", "workloads", "numbers", "catalogue", "trust", "reproduce")


class _Page(HTMLParser):
    """Every tag's attributes, every id, and the text under each element with an id."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.attributes: list[tuple[str, dict[str, str | None]]] = []
        self.ids: set[str] = set()
        self._open: list[tuple[str, str | None]] = []
        self._open_tags: Counter[str] = Counter()
        self._open_ids: list[str] = []
        self._parts: dict[str, list[str]] = {}
        self.feed(html)
        self.close()
        self.text_by_id = {element_id: "".join(parts) for element_id, parts in self._parts.items()}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.attributes.append((tag, found))
        element_id = found.get("id")
        if element_id:
            self.ids.add(element_id)
            self._parts[element_id] = []
        if tag not in {"meta", "br", "link", "img", "input", "rect", "line", "circle", "polyline"}:
            self._open.append((tag, element_id))
            self._open_tags[tag] += 1
            if element_id:
                self._open_ids.append(element_id)

    def handle_endtag(self, tag: str) -> None:
        if not self._open_tags[tag]:  # e.g. </rect>, whose start was not kept
            return
        while self._open:
            open_tag, element_id = self._open.pop()
            self._open_tags[open_tag] -= 1
            if element_id:
                self._open_ids.pop()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for element_id in self._open_ids:
            self._parts[element_id].append(data)


def _page(tmp_path: Path, factors: dict[str, float] | None = None, **kwargs: object) -> tuple[str, _Page]:
    write_results(tmp_path, factors or TYPICAL, **kwargs)  # type: ignore[arg-type]
    html = build_page(read_results([tmp_path]), read_catalogue(catalogue()))
    return html, _Page(html)


@pytest.fixture(scope="module")
def typical(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, _Page]:
    """The page of the typical result set, built once: the tests that read it change nothing."""
    return _page(tmp_path_factory.mktemp("typical"))


def _guide(parsed: _Page) -> str:
    return " ".join(parsed.text_by_id["guide"].split())


def _guide_of(folder: Path, factors: dict[str, float], **kwargs: object) -> str:
    """The guide's sentences for a result set, as the terminal prints them: the page's own, without
    building the page (the tests of the page itself read its guide)."""
    write_results(folder, factors, **kwargs)  # type: ignore[arg-type]
    return " ".join(" ".join(guide_text(read_results([folder]), read_catalogue(catalogue()))).split())


def test_every_section_is_present(typical: tuple[str, _Page]) -> None:
    _, page = typical
    assert set(SECTIONS) <= page.ids
    assert {f"w-{module}" for module in shared.MIRRORED} <= page.ids
    assert {"D01", "D02", "D03"} <= page.ids
    pipeline = " ".join(page.text_by_id["w-pipeline"].split())
    assert "run_pipeline(items: Iterable[T], *, handler: Callable[[T], Awaitable[object]]," in pipeline
    assert "Pass every item of items through a bounded buffer to handler" in pipeline


def test_the_page_loads_nothing_and_links_out_only_to_cited_sources(typical: tuple[str, _Page]) -> None:
    html, page = typical
    cited = {url for entry in catalogue()["entries"] for url in entry["sources"]}
    cited.add(HTTPCORE_BACKENDS)
    assert not [attrs for _, attrs in page.attributes if "src" in attrs], "nothing may be loaded from anywhere"
    assert not [tag for tag, _ in page.attributes if tag in {"link", "img", "iframe", "object", "embed"}]
    for tag, attrs in page.attributes:
        href = attrs.get("href")
        if href is not None and not href.startswith("#"):
            assert tag == "a", href
            assert href in cited, href
    assert "url(" not in html
    assert "@import" not in html
    assert "default-src 'none'" in html  # the browser itself refuses any request


def test_the_numbers_are_the_results(tmp_path: Path) -> None:
    factors = {**TYPICAL, "trio": 1.7}
    wobble = {("spawn_join", "trio"): (0.9, 1.3) * ROUNDS}
    _html, page = _page(tmp_path, factors, wobble=wobble)
    (context,) = read_results([tmp_path])
    spawn = max(m.row.n for m in context.measures if m.row.group == "spawn_join")
    trio = context.find("spawn_join", spawn, "trio")
    assert trio is not None
    # By hand: values are 10 µs x 1.7 x the wobble; asyncio's are 10 µs. The ratio is the
    # median of the paired ratios, taken on their logarithms (as triptych.stats does).
    values = [10.0 * 1.7 * w for w in (0.9, 1.3) * ROUNDS]
    assert trio.row.median == pytest.approx(statistics.median(values) * 1e-6)
    paired = math.exp(statistics.median([math.log(v / 10.0) for v in values]))
    row = " ".join(page.text_by_id[trio.anchor].split())
    assert row.startswith(f"trio {figure(statistics.median(values))} ")
    assert f"{figure(paired)}x" in row
    assert f"{figure(paired)}x" in " ".join(page.text_by_id["guide"].split())
    assert len(values) == ROUNDS * VALUES == trio.row.values


def test_the_guide_follows_the_numbers(tmp_path: Path) -> None:
    slower = _guide_of(tmp_path / "a", {**TYPICAL, "trio": 1.5})
    faster = _guide_of(tmp_path / "b", {**TYPICAL, "trio": 0.5})
    assert "For spawning a task, trio takes 1.50x as long as asyncio (slower)" in slower
    assert "For spawning a task, trio takes 0.500x as long as asyncio (faster)" in faster
    assert slower != faster
    assert "asyncio+uvloop against asyncio: faster in" in slower
    uvloop_slower = _guide_of(tmp_path / "c", {**TYPICAL, "asyncio+uvloop": 1.3})
    assert "asyncio+uvloop against asyncio: slower in" in uvloop_slower


def test_a_difference_within_the_noise_is_said_to_be(tmp_path: Path) -> None:
    guide = _guide_of(tmp_path, {**TYPICAL, "trio": 1.02}, wobble={("spawn_join", "trio"): NOISY})
    assert "For spawning a task, trio takes about the same as asyncio (" in guide
    assert "within noise)" in guide
    steady = _guide_of(tmp_path / "steady", {**TYPICAL, "trio": 1.02})
    assert "trio takes 1.02x as long as asyncio (slower)" in steady


def test_the_fanout_answer_names_the_client_and_the_io_layer(tmp_path: Path) -> None:
    guide = _guide_of(tmp_path, {**TYPICAL, "trio": 0.6, "anyio-trio": 0.65})
    assert "trio is the fastest flavour" in guide
    # The fixture's aiohttp takes AIOHTTP x the loop's own factor: on uvloop 0.7, so
    # 0.25 x 0.7 / 0.6 of trio's time.
    assert (
        f"aiohttp on asyncio+uvloop with the same 100 in flight takes {figure(AIOHTTP * 0.7 / 0.6)}x as long "
        "as httpx on trio (faster): the HTTP client, more than the loop, sets the pace."
    ) in guide
    assert "With 100 in flight each flavour runs httpx at 4.00x to 4.00x its own one-request-at-a-time rate" in guide
    assert "httpcore's AnyIO network backend, on Trio over httpcore's Trio backend" in guide


def test_behaviour_changes_come_from_the_catalogue(typical: tuple[str, _Page]) -> None:
    guide = _guide(typical[1])
    # D02 differs on every non-asyncio library; D03 differs on anyio-asyncio, and is n/a on Trio.
    assert "From asyncio to anyio-asyncio: 2 of 3 catalogued behaviours differ (D02, D03)." in guide
    assert "From asyncio to trio: 1 of 3 catalogued behaviours differ (D02)." in guide


def test_the_catalogue_shows_outcomes_probes_and_sources(typical: tuple[str, _Page]) -> None:
    html, page = typical
    d03 = " ".join(page.text_by_id["D03"].split())
    assert "trio: not applicable (Trio has no such API)" in d03
    assert "anyio-asyncio: false" in d03
    for package in IMPL_PACKAGES:
        assert f"{package}: checkpoints()" in d03
        assert f"No no_such_probe() in {package}" in " ".join(page.text_by_id["D02"].split())
    assert 'href="https://trio.readthedocs.io/en/stable/reference-core.html"' in html


def test_a_page_without_results_says_how_to_add_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["site", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "no numbers on it: to add them, run nox -s compare" in " ".join(out.split())
    page = _Page((tmp_path / "report.html").read_text())
    assert set(SECTIONS) <= page.ids
    # The catalogue was observed now, every entry of it.
    assert {entry.id for entry in ENTRIES} <= page.ids
    assert "No numbers on this page yet" in page.text_by_id["guide"]
    assert "nox -s compare" in page.text_by_id["guide"]


def test_the_report_command_writes_the_page_and_prints_the_guide(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("triptych.site.observe", catalogue)  # observed live in the test just above
    write_results(tmp_path / "results", TYPICAL)
    assert main(["report", str(tmp_path / "results"), "--html", str(tmp_path / "out.html")]) == 0
    assert "fixture-py3.11.7" in (tmp_path / "out.html").read_text()
    out = " ".join(capsys.readouterr().out.split())
    assert "Decision guide, fixture-py3.11.7" in out
    assert "- For spawning a task, trio takes 1.50x as long as asyncio (slower)" in out
    assert out.endswith(f"page: {tmp_path / 'out.html'}")


def test_figures_have_three_significant_digits() -> None:
    assert [figure(v) for v in (1511, 0.6501, 123456, 0.0123, 9.999, 1.0)] == [
        "1,510",
        "0.650",
        "123,000",
        "0.0123",
        "10.0",
        "1.00",
    ]


def test_several_result_sets_side_by_side_and_the_anyio_version(tmp_path: Path) -> None:
    write_results(tmp_path, TYPICAL, tag="anyio-4.13.0", anyio="4.13.0")
    write_results(tmp_path, {**TYPICAL, "anyio-asyncio": 3.0}, tag="anyio-latest")
    page = _Page(write_page(tmp_path / "page", read_results([tmp_path]), read_catalogue(catalogue())).read_text())
    assert {"fixture-py3-11-7-anyio-4-13-0", "fixture-py3-11-7-anyio-latest"} <= page.ids
    guide = _guide(page)
    assert "spawning a task costs 5.00x asyncio with anyio 4.13.0 and 3.00x with anyio 4.16.0: cheaper" in guide


def test_a_flavour_without_results_is_named(tmp_path: Path) -> None:
    factors = {name: factor for name, factor in TYPICAL.items() if name != "anyio-uvloop"}
    guide = _guide(_page(tmp_path, factors)[1])  # the page says it, not a sentence of the guide
    assert "No results for anyio-uvloop in this set" in guide


def _source(package: str, module: str) -> str:
    return (Path(shared.__file__).parent.parent / package / f"{module}.py").read_text()


def test_the_code_is_aligned_banner_by_banner() -> None:
    for module in shared.MIRRORED:
        sections = code_sections(module, [])
        titles = [section.title for section in sections]
        assert len(titles) == len(set(titles)), f"{module}: each section once"
        for package in IMPL_PACKAGES:
            source = (Path(shared.__file__).parent.parent / package / f"{module}.py").read_text().splitlines()
            shown = [line.number for section in sections if (cell := section.cells[package]) for line in cell]
            assert shown == list(range(1, len(source) + 1)), f"{package}/{module}.py: every line once, in order"
            banners = [line[6:].rstrip(" -") for line in source if re.match(r"^# --- ", line)]
            assert [t for t in titles if not t.startswith("Only in") or t in banners] == ["Module", *banners]
        for section in sections:
            owners = [package for package in IMPL_PACKAGES if section.cells[package] is not None]
            having = [package for package in IMPL_PACKAGES if f"# --- {section.title} ---" in _source(package, module)]
            assert owners == (list(IMPL_PACKAGES) if section.title == "Module" else having), section.title


def test_lines_that_differ_for_a_reason_show_it() -> None:
    derived = intended_differences("fanout")
    # From the mirror check's table: every listed line, with its reason, where it stands.
    assert derived
    assert all(d.reason for d in derived)
    for difference in derived:
        source = (Path(shared.__file__).parent.parent / difference.package / "fanout.py").read_text().splitlines()
        assert source[int(difference.line) - 1].strip(), difference
    assert {d.package for d in derived} == {"impl_asyncio", "impl_trio", "impl_anyio"}
    # A table of intended differences may name the line by its text instead.
    given = [IntendedDifference("fanout", "impl_asyncio", "async with asyncio.timeout(timeout):", "a test reason")]
    lines = [line for s in code_sections("fanout", given) for line in s.cells["impl_asyncio"] or ()]
    (marked,) = [line for line in lines if line.reason]
    assert marked.kind == "explained"
    assert marked.reason == "a test reason"
    assert "asyncio" in marked.html
    assert "timeout" in marked.html
    same = [line for line in lines if line.kind == "same" and "__future__" in line.html]
    assert same, "a line every mirror has is not highlighted"


def test_within_noise_is_the_terminal_reports_judgement(tmp_path: Path) -> None:
    write_results(tmp_path, {**TYPICAL, "trio": 1.0}, wobble={("checkpoints", "trio"): NOISY})
    (context,) = read_results([tmp_path])
    n = context.standard("checkpoints")
    assert n is not None
    trio, base = context.find("checkpoints", n, "trio"), context.find("checkpoints", n, "asyncio")
    anyio = context.find("checkpoints", n, "anyio-asyncio")
    assert trio is not None
    assert base is not None
    assert anyio is not None
    noisy = ratio(trio, base)
    assert noisy.pairs == ROUNDS * VALUES
    assert noisy.low < 1 < noisy.high
    assert noisy.within_noise
    assert not ratio(anyio, base).within_noise
    # The page shows it so, and so does the terminal report, from the same ratio.
    row = " ".join(_Page(build_page([context], read_catalogue(catalogue()))).text_by_id[trio.anchor].split())
    assert "within noise" in row
    assert f"{figure(noisy.low)}-{figure(noisy.high)}" in row
    out = io.StringIO()
    report(load([tmp_path]), Console(file=out, width=200))
    title = context.title("checkpoints")
    table = out.getvalue().split(title, 1)[1]
    (terminal,) = [line for line in table.splitlines() if line.strip("│ ").startswith("trio ")][:1]
    assert "within noise" in terminal
    assert noisy.interval in terminal


def test_ratios_to_asyncio_are_the_ones_the_results_carry(tmp_path: Path) -> None:
    write_results(tmp_path, {**TYPICAL, "trio": 1.5})
    (context,) = read_results([tmp_path])
    n = context.standard("spawn_join")
    assert n is not None
    trio, base = context.find("spawn_join", n, "trio"), context.find("spawn_join", n, "asyncio")
    assert trio is not None
    assert base is not None
    assert trio.row.vs_asyncio == (1.5, 1.5, 1.5)
    # Not computed again: a carried figure is what every reader shows.
    carried = dataclasses.replace(trio, row=dataclasses.replace(trio.row, vs_asyncio=(1.25, 0.98, 1.6)))
    found = ratio(carried, base)
    assert (found.value, found.low, found.high, found.within_noise) == (1.25, 0.98, 1.6, True)
    assert found == stats.ratio(carried.row, base.row)
    # Between two flavours that are not asyncio, there is none to carry: computed from the values.
    uvloop = context.find("spawn_join", n, "asyncio+uvloop")
    assert uvloop is not None
    assert ratio(carried, uvloop).value == pytest.approx(1.5 / 0.7)


def test_every_workload_shows_its_own_benchmarks(typical: tuple[str, _Page]) -> None:
    _, page = typical
    offload = " ".join(page.text_by_id["w-offload"].split())
    assert "Calls in worker threads that return at once, 1 at a time (n=1,000)" in offload
    assert "Calls in worker threads that return at once, 8 at a time (n=1,000)" in offload
    streams = " ".join(page.text_by_id["w-streams"].split())
    assert "TCP echo of 100 B messages, 16 in flight (n=1,000)" in streams
    assert "TCP echo of 65536 B messages, 16 in flight (n=100)" in streams
    fanout = " ".join(page.text_by_id["w-fanout"].split())
    assert "ref: aiohttp, 100 in flight (asyncio+uvloop)" in fanout
    numbers = " ".join(page.text_by_id["numbers"].split())
    assert "Spawn and join N tasks (n=10,000)" in numbers
    assert "TCP echo" not in numbers


# --- How far to trust this ------------------------------------------------------------------


def _trust_page(folder: Path, factors: dict[str, float] | None = None, **kwargs: object) -> _Page:
    """The trust section of the page of ``folder`` (the page's sections are siblings, and the
    tests of the whole page are above)."""
    write_results(folder, factors or TYPICAL, **kwargs)  # type: ignore[arg-type]
    html = build_page(read_results([folder]), read_catalogue(catalogue()), read_trust([folder]))
    start = html.index('<section id="trust"')
    return _Page(html[start : html.index("</section>", start) + len("</section>")])


def _text(page: _Page, element_id: str) -> str:
    return " ".join(page.text_by_id[element_id].split())


def _cell_id(workload: str, fault: str, call: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", f"fault-1-{workload}-{fault}-{call}").strip("-")


def test_the_fault_matrix_renders_every_row_of_the_file(tmp_path: Path) -> None:
    rows = write_faults(tmp_path)
    page = _trust_page(tmp_path)

    assert {row.workload for row in rows} == {"fanout", "streams"}
    for row in rows:
        assert _text(page, _cell_id(row.workload, row.fault, row.call)) == f"✓ {row.expected}"
    trust = _text(page, "trust")
    assert f"{len(rows)} of {len(rows)} cells alike on every flavour" in trust
    assert "fanout: faults down, calls across" in trust
    assert "streams: faults down, calls across" in trust
    assert str(tmp_path / "faults.json") in trust
    assert f"{platform.python_implementation()} {platform.python_version()}" in trust  # the writer's own Python


def test_a_disagreeing_cell_is_flagged_with_each_flavours_outcome(tmp_path: Path) -> None:
    late = bound_of(FAULTS[0]) + 1
    rows = write_faults(
        tmp_path,
        differ={
            ("5xx", "fetch_all"): {"trio": Cell("ok ok ok ok", 0.5)},
            ("body trickled", "fetch_as_completed"): {"anyio-uvloop": Cell("timeout timeout", late)},
        },
    )
    page = _trust_page(tmp_path)

    wrong = _text(page, _cell_id("fanout", "5xx", "fetch_all"))
    assert wrong.startswith("flavours differ; expected ok status ok status")
    assert "✗ trio: ok ok ok ok in 0.50 s" in wrong
    for flavour in FLAVOUR_NAMES:
        if flavour != "trio":
            assert f"{flavour}: ok status ok status in 0.25 s" in wrong
            assert f"✗ {flavour}:" not in wrong
    slow = _text(page, _cell_id("fanout", "body trickled", "fetch_as_completed"))
    assert f"✗ anyio-uvloop: timeout timeout in {late:.2f} s" in slow  # the right outcome, past its bound
    assert f"{len(rows) - 2} of {len(rows)} cells alike" in _text(page, "trust")


def test_each_missing_file_names_the_command_that_makes_it(tmp_path: Path) -> None:
    page = _trust_page(tmp_path)
    trust = _text(page, "trust")

    assert "No fault matrix here: nox -s faults runs it" in trust
    assert "No stress run here: nox -s stress -- --runs 20 runs" in trust
    assert "No fuzz run here: nox -s fuzz runs" in trust


def test_the_stress_and_fuzz_figures_are_the_files(tmp_path: Path) -> None:
    flaky = "tests/test_pipeline.py::test_backpressure[anyio-uvloop]"
    write_stress(tmp_path, {flaky: 2}, runs=17, tests=431)
    write_fuzz(
        tmp_path,
        {
            "tests/test_fuzz.py::test_pipeline_agrees_on_every_flavour": (200, 0, 18, "passed"),
            "tests/test_fuzz.py::test_locks_agree_on_every_flavour": (57, 1, 3, "failed"),
        },
    )
    page = _trust_page(tmp_path)
    trust = _text(page, "trust")

    assert (
        "17 runs in a row of 17 asked for, 431 tests per run, with 1 other core kept busy: 2 failures in 1 test"
        in trust
    )
    assert f"failed in 2 of 17 runs: {flaky}" in trust
    assert f"{tmp_path / 'stress.json'}, written by nox -s stress -- --runs 17" in trust
    assert "Hypothesis profile fuzz: at most 200 examples per test" in trust
    assert "tests/test_fuzz.py::test_pipeline_agrees_on_every_flavour 200 0 18 passed" in trust
    assert "tests/test_fuzz.py::test_locks_agree_on_every_flavour 58 1 3 failed" in trust
    assert str(tmp_path / "fuzz.json") in trust
    assert "Run as pytest tests/test_fuzz.py --hypothesis-profile=fuzz -p tests.fuzz_record" in trust
    assert "No stress run here" not in trust
    assert "No fuzz run here" not in trust


def test_the_noise_figures_are_the_runs(tmp_path: Path) -> None:
    # trio 2 % slower than asyncio on a steady host, but on spawn_join its paired ratios fall on
    # both sides of 1.0: the one ratio within noise.
    page = _trust_page(tmp_path, {**TYPICAL, "trio": 1.02}, wobble={("spawn_join", "trio"): NOISY})
    (context,) = read_results([tmp_path])
    compared = sum(
        1
        for table in context.tables().values()
        for m in table
        if m.row.group == table[0].row.group and m.row.flavour != "asyncio"
    )

    assert f"the host's speed varied by 0.0% during the run; {ROUNDS} rounds; 1 of {compared} ratios" in _text(
        page, "trust"
    )


def test_the_report_command_reads_the_trust_files_beside_the_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("triptych.site.observe", catalogue)  # observed live in the site command's test
    write_results(tmp_path / "results", TYPICAL)
    write_faults(tmp_path / "results")
    write_stress(tmp_path / "results", {})
    assert main(["report", str(tmp_path / "results"), "--html", str(tmp_path / "out.html")]) == 0

    trust = _text(_Page((tmp_path / "out.html").read_text()), "trust")
    assert "cells alike on every flavour" in trust
    assert "20 runs in a row of 20 asked for, 812 tests per run, with 1 other core kept busy: 0 failures" in trust
    assert "No fuzz run here: nox -s fuzz" in trust


def test_what_the_suite_proves_quotes_the_servers_own_limits(tmp_path: Path) -> None:
    trust = _text(_trust_page(tmp_path), "trust")

    assert f"a body over {server.MAX_BYTES:,} bytes" in trust
    assert f"a trickle over {server.MAX_TRICKLE:,} bytes" in trust
    assert f"Past its cap of open connections ({server.MAX_CONNECTIONS:,} by default)" in trust
    for workload in ("fanout", "streams"):
        assert f"{workload}, {len(faults_of(workload))} faults against {len(calls_of(workload))} ways" in trust


def test_a_trust_file_that_is_not_one_is_named(tmp_path: Path) -> None:
    (tmp_path / "stress.json").write_text('{"runs": 3}')
    with pytest.raises(ValueError, match=r"stress\.json is not a stress\.json that triptych wrote \(nox -s stress"):
        read_trust([tmp_path])
