"""The benchmark machinery: files pyperf can read, failures reported, sentences from numbers.

These check structure and wording, never speed: the numbers themselves are the benchmarks' job.
"""

from __future__ import annotations

import io
import os
import sys
from dataclasses import replace
from pathlib import Path

import pyperf
import pytest
from rich.console import Console

from tests.site_fixtures import catalogue
from triptych.agreement import agreement
from triptych.benchmarks import BENCHMARKS, PROFILES, Benchmark, Kind, Profile
from triptych.cli import main
from triptych.flavours import FLAVOURS, Flavour
from triptych.report import report
from triptych.results import Row, load
from triptych.runner import run_benchmarks
from triptych.server import LoopbackServer
from triptych.worker import _prepare, _time_value

# Two rounds, always: a target of 0 is never reached.
TINY = Profile(
    "tiny", min_rounds=2, max_rounds=2, warmups=1, values=2, budget=60, target=0.0,
    benchmarks=("spawn_join[n=100]", "checkpoints[n=10000]"),
)  # fmt: skip


def _console() -> tuple[Console, io.StringIO]:
    output = io.StringIO()
    return Console(file=output, width=200), output


def test_every_profile_names_known_benchmarks() -> None:
    for profile in PROFILES.values():
        assert set(profile.benchmarks) <= set(BENCHMARKS)
    groups = {BENCHMARKS[name].group for name in PROFILES["quick"].benchmarks}
    assert {"fanout", "pipeline", "timeouts", "cancellation", "locks"} <= groups
    assert {"spawn_join", "checkpoints", "handoff", "handoff+checkpoint", "lock_handoff"} <= groups
    assert {"timeout_scope", "cancel_waiting", "httpx-serial", "aiohttp"} <= groups


def test_results_are_pyperf_files_with_what_changes_a_number(tmp_path: Path) -> None:
    console, _ = _console()

    outcome = run_benchmarks(TINY, {"asyncio": sys.executable, "trio": sys.executable}, tmp_path, console=console)
    written = outcome.written

    assert sorted(path.name for path in written) == ["asyncio.json", "trio.json"]
    for path in written:
        suite = pyperf.BenchmarkSuite.load(str(path))
        assert sorted(suite.get_benchmark_names()) == ["checkpoints[n=10000]", "spawn_join[n=100]"]
        benchmark = suite.get_benchmark("spawn_join[n=100]")
        assert len(benchmark.get_runs()) == TINY.max_rounds
        assert benchmark.get_nvalue() == TINY.max_rounds * TINY.values
        metadata = benchmark.get_metadata()
        assert metadata["triptych_flavour"] == path.stem
        assert metadata["triptych_rounds"] == TINY.max_rounds
        assert metadata["python_version"] == ".".join(map(str, sys.version_info[:3]))
        assert {"trio_version", "httpx_version", "cpu_model_name", "triptych_params"} <= set(metadata)
        # Memory is measured once, in the first process.
        assert benchmark.get_runs()[0].get_metadata()["triptych_kib_per_unit"] > 0
        # One run per round, all from the same run of the runner, so values can be paired.
        runs = [run.get_metadata() for run in benchmark.get_runs()]
        assert [run["triptych_round"] for run in runs] == list(range(TINY.max_rounds))
        assert len({run["triptych_run"] for run in runs}) == 1
        # With two CPUs or more, the workers have one to themselves.
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        assert runs[0].get("cpu_affinity") == (str(cpus[-1]) if len(cpus) > 1 else None)
    run_ids = {
        pyperf.BenchmarkSuite.load(str(path)).get_benchmarks()[0].get_metadata()["triptych_run"] for path in written
    }
    assert len(run_ids) == 1, "the flavours of one run share its id"
    assert not list(tmp_path.rglob(".*.json")), "a temporary file was left behind"


def test_a_crashing_flavour_is_reported_and_the_others_finish(tmp_path: Path) -> None:
    console, output = _console()

    outcome = run_benchmarks(TINY, {"asyncio": sys.executable, "trio": "/bin/false"}, tmp_path, console=console)
    written = outcome.written

    assert [path.name for path in written] == ["asyncio.json"]
    assert "trio: worker failed" in output.getvalue()
    assert outcome.failed == ["trio: worker failed: exit status 1"]


def test_a_worker_that_prints_to_stdout_is_reported_and_the_others_finish(tmp_path: Path) -> None:
    chatty = tmp_path / "chatty"
    chatty.write_text("#!/bin/sh\necho hello\ncat > /dev/null\n")
    chatty.chmod(0o755)
    console, output = _console()

    outcome = run_benchmarks(TINY, {"asyncio": sys.executable, "trio": str(chatty)}, tmp_path, console=console)
    written = outcome.written

    assert [path.name for path in written] == ["asyncio.json"]
    assert "trio: worker failed: it printed 'hello'" in output.getvalue()


def test_a_flavour_that_measured_nothing_keeps_no_file(tmp_path: Path) -> None:
    # Its library is missing, say: the worker starts, then every benchmark fails.
    broken = tmp_path / "broken"
    environment = '{"environment": {"flavour": "trio", "python_version": "3", "versions": {}}}'
    answer = '{"name": "any", "error": "FlavourUnavailable: no trio"}'
    broken.write_text(f"#!/bin/sh\necho '{environment}'\nwhile read line; do echo '{answer}'; done\n")
    broken.chmod(0o755)
    console, output = _console()

    outcome = run_benchmarks(TINY, {"asyncio": sys.executable, "trio": str(broken)}, tmp_path, console=console)
    written = outcome.written

    assert [path.name for path in written] == ["asyncio.json"]
    assert not list(tmp_path.rglob("trio.json"))
    assert outcome.failed == [f"trio: {name}: FlavourUnavailable: no trio" for name in TINY.benchmarks]
    assert "FlavourUnavailable: no trio" in output.getvalue()


def test_the_report_prints_a_table_and_a_sentence_per_benchmark(tmp_path: Path) -> None:
    console, _ = _console()
    outcome = run_benchmarks(
        TINY, {"asyncio": sys.executable, "anyio-asyncio": sys.executable}, tmp_path, console=console
    )
    console, output = _console()

    report(load(outcome.written), console)

    text = " ".join(output.getvalue().split())
    assert "Spawn and join N tasks" in text
    assert "A bare checkpoint" in text
    assert "vs asyncio" in text
    assert "95 % interval" in text
    assert "1.00x" in text
    # What the sentence claims depends on this host's noise (test_stats checks the wording).
    assert text.count("raw asyncio on the same loop.") + text.count("Every flavour is within noise") == 2
    assert "The host's speed varied by" in text


def _row(flavour: str, group: str, micro: float, kind: str = "workload") -> Row:
    """A row of run "r" whose values, in six slots, are ``micro`` µs within ±0.5 %."""
    title = {"fanout": "HTTP fan-out with httpx, 100 in flight"}.get(group, group)
    reference_for = "fanout" if kind == "reference" else ""
    slots = {(round_, turn): micro / 1e6 * (1 + 0.005 * (turn - round_)) for round_ in range(3) for turn in range(2)}
    return Row(
        "m", flavour, group, kind, "request", 2000, micro / 1e6, 0.01, 6, 1.0, 0.1, {},
        run="r", slots=slots, title=title, params={"n": 2000, "limit": 100}, reference_for=reference_for,
    )  # fmt: skip


def _scaled(row: Row, factor: float) -> Row:
    return replace(row, median=row.median * factor, slots={s: v * factor for s, v in row.slots.items()})


def test_the_fanout_sentence_is_computed_from_the_numbers() -> None:
    rows = [
        _row("asyncio", "fanout", 500),
        _row("trio", "fanout", 450),
        _row("anyio-trio", "fanout", 520),
        _row("asyncio", "httpx-serial", 600, "reference"),
        _row("trio", "httpx-serial", 540, "reference"),
        _row("anyio-trio", "httpx-serial", 580, "reference"),
        _row("asyncio+uvloop", "aiohttp", 90, "reference"),
    ]
    console, output = _console()

    report(rows, console)

    text = " ".join(output.getvalue().split())
    assert "httpx, not the loop, limits fan-out: every flavour is within 16% of the others" in text
    assert "aiohttp (uvloop) is 5.0x faster" in text
    assert "1.12-1.20x httpx's own one-at-a-time rate" in text

    # Each reference that swaps one layer on the same loop says what that layer costs.
    layered = [*rows, _row("asyncio", "aiohttp", 100, "reference"), _row("asyncio", "httpx-aiohttp", 300, "reference")]
    console, output = _console()
    report(layered, console)
    text = " ".join(output.getvalue().split())
    assert "On asyncio, httpx-aiohttp takes 3.00x aiohttp: the cost of httpx's own request and response" in text
    assert "On asyncio, fanout takes 1.67x httpx-aiohttp: httpcore, h11 and httpcore's network backend" in text

    slow = [_scaled(r, 3) if r.flavour == "anyio-trio" else r for r in rows]
    console, output = _console()
    report(slow, console)
    assert "The loop matters here: trio is 3.5x as fast as anyio-trio" in " ".join(output.getvalue().split())


def test_a_server_bound_row_is_flagged() -> None:
    rows = [_row("asyncio", "fanout", 500), replace(_row("trio", "fanout", 450), server_cpu_share=0.95)]
    console, output = _console()

    report(rows, console)

    assert "server-bound (95% of a core)" in output.getvalue()


def test_results_from_two_contexts_are_put_side_by_side() -> None:
    old = [replace(_row("anyio-trio", "spawn_join", 11), context="py3.11-anyio-4.13.0", n=10_000)]
    new = [replace(_row("anyio-trio", "spawn_join", 25), context="py3.11-anyio-latest", n=10_000)]
    console, output = _console()

    report(old + new, console)

    text = output.getvalue()
    assert "anyio-trio across contexts" in text
    assert "py3.11-anyio-4.13.0" in text
    assert "py3.11-anyio-latest" in text
    assert "2.27x" in text


def test_ratios_within_a_run_pair_values_timed_side_by_side() -> None:
    # Turn 2 of round 0 was slowed down for both flavours: the pairs still say 3x, where
    # the medians (1.1 and 3.0 µs) would say 2.73x.
    asyncio = replace(
        _row("asyncio", "locks", 0), median=1.1e-6, run="r", slots={(0, 0): 1.0, (0, 1): 1.1, (0, 2): 2.0}
    )
    trio = replace(_row("trio", "locks", 0), median=3.0e-6, run="r", slots={(0, 0): 3.0, (0, 1): 2.9, (0, 2): 6.0})
    console, output = _console()

    report([asyncio, trio], console)
    assert "3.00x" in output.getvalue()
    assert "trio takes 3.0x as long" in " ".join(output.getvalue().split())

    # From two different runs nothing was timed side by side: the ratio of the medians.
    console, output = _console()
    report([asyncio, replace(trio, run="another")], console)
    assert "2.73x" in output.getvalue()


def _noisy(row: Row, noise: float) -> Row:
    """``row`` with its values spread by ±``noise`` in an order unlike asyncio's."""
    shuffle = [0, 3, 1, 5, 2, 4]
    slots = {slot: value * (1 + noise * (shuffle[i] - 2.5) / 2.5) for i, (slot, value) in enumerate(row.slots.items())}
    return replace(row, slots=slots)


def test_agreement_judges_by_intervals_and_says_how_far_apart_two_runs_put_each_ratio() -> None:
    first = [_row("asyncio", "locks", 10), _noisy(_row("trio", "locks", 20), 0.04), _row("anyio-trio", "locks", 30)]
    second = [_row("asyncio", "locks", 10), _noisy(_row("trio", "locks", 20.6), 0.04), _row("anyio-trio", "locks", 36)]
    console, output = _console()

    # trio's intervals (±4 % noise) overlap though 3 % apart; anyio-trio's, exact, do not.
    assert not agreement(first, second, console)

    text = " ".join(output.getvalue().split())
    assert "1 of 2 ratios to asyncio agree (their 95 % intervals overlap); 1 of 2 are within 5%;" in text
    assert "the furthest apart differ by 16.7%." in text
    assert "│ workload │ 2 │ 1 │ 1 │" in text, "the by-kind table counts the ratios within 5 %"
    wide = [first[0], first[1], _noisy(first[2], 0.2)]
    assert agreement(wide, [second[0], second[1], _noisy(second[2], 0.2)], _console()[0])
    with pytest.raises(ValueError, match="one run, in one context"):
        agreement([*first, replace(first[0], context="other")], second, console)


def test_the_plots_are_png_files_per_context(tmp_path: Path) -> None:
    from triptych.plots import write_plots  # matplotlib: here, not in every worker's collection

    rows = [
        replace(_row(flavour, "spawn_join", micro, "primitive"), n=n)
        for flavour, micro in (("asyncio", 4.0), ("trio", 6.0))
        for n in (1000, 10_000)
    ]

    written = write_plots(rows, tmp_path)

    assert sorted(path.name for path in written) == ["ratios.png", "scale.png"]
    for path in written:
        assert path.parent == tmp_path / "m"
        assert path.read_bytes().startswith(b"\x89PNG")


def test_bench_exits_non_zero_with_a_line_saying_what_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("triptych.site.observe", catalogue)  # the page's catalogue: tests/test_site.py observes it live
    code = main(["bench", "--python", "trio=/bin/false", "--out", str(tmp_path)])

    assert code == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "failed: trio: worker failed: exit status 1" in out
    assert f"page: {tmp_path / 'report.html'}" in out  # the page beside the results, even with none
    assert (tmp_path / "report.html").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fanout", "--limit", "0"], "argument --limit: must be >= 1, got 0"),
        (["fanout", "--requests", "many"], "argument --requests: not a whole number: 'many'"),
        (["bench", "--python", "trio"], "argument --python: expected FLAVOUR=EXE with FLAVOUR one of asyncio,"),
        (["bench", "--python", "trio=/no/such/python"], "argument --python: no interpreter at '/no/such/python'"),
    ],
)
def test_bad_command_line_input_is_a_usage_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)

    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


FANOUT_REFERENCES = [
    (benchmark, flavour)
    for benchmark in {b.group: b for b in BENCHMARKS.values() if b.reference_for == "fanout"}.values()
    for flavour in FLAVOURS
    if benchmark.runs_on(flavour.name)
]


def test_the_fanout_references_lay_the_io_layer_bare() -> None:
    groups = {benchmark.group: benchmark for benchmark, _ in FANOUT_REFERENCES}
    assert set(groups) == {"httpx-serial", "httpx-shared", "httpx2-shared", "httpx-aiohttp", "aiohttp"}
    assert set(groups) <= {BENCHMARKS[name].group for name in PROFILES["quick"].benchmarks}
    # httpx's own pool and httpx2's on every flavour; aiohttp's connector only where it runs.
    for group in ("httpx-serial", "httpx-shared", "httpx2-shared"):
        assert groups[group].flavours is None
    for group in ("httpx-aiohttp", "aiohttp"):
        assert groups[group].flavours == ("asyncio", "asyncio+uvloop")
    assert groups["httpx2-shared"].needs == ("httpx2",)
    assert groups["httpx-aiohttp"].needs == ("httpx-aiohttp",)


# Each reference on exactly the flavours it declares (the test above pins those), so the
# parameter is not the suite's every-flavour `flavour`.
@pytest.mark.parametrize(
    ("benchmark", "on"), FANOUT_REFERENCES, ids=[f"{b.group}-{f.name}" for b, f in FANOUT_REFERENCES]
)
def test_a_fanout_reference_makes_every_request_and_closes_its_connections(
    benchmark: Benchmark, on: Flavour, server: LoopbackServer
) -> None:
    small = replace(benchmark, params={**benchmark.params, "n": 30})

    on.run(small.prepare(on, server.url), timeout=60)

    assert server.stats().served == 30


@pytest.mark.parametrize("kind", ["primitive", "workload"])
def test_a_primitive_counts_cpu_time_and_a_workload_wall_time(flavour: Flavour, kind: Kind) -> None:
    # A call that only waits: 10 ms of wall time, next to nothing of CPU time.
    idle = Benchmark("idle", kind, "call", "Wait", lambda flavour, _url, _params: lambda: flavour.sleep(0.01), {"n": 1})

    prepared = _prepare(flavour, idle, "", warmups=1)
    record = _time_value(flavour, prepared, "")

    assert record["cpu_seconds"] < record["seconds"] / 2
    counted = record["cpu_seconds"] if kind == "primitive" else record["seconds"]
    assert record["value"] == pytest.approx(counted / prepared.loops)
