"""Interrupting a comparison loses nothing and leaves nothing running.

A real ``triptych bench`` (what ``nox -s compare`` runs) in a process group of its own,
stopped with a real signal once its first round is on disk: Ctrl-C sends SIGINT to the
whole group, as a terminal does; SIGTERM goes to the runner alone, as ``kill`` or a
supervisor sends it. Either way the run ends promptly with exit status 130, the files
hold valid pyperf data with every value measured, and no process of the run is left.
A worker that hangs is killed after the runner's answer timeout and reported by name.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyperf
import pytest
from rich.console import Console

from triptych.benchmarks import Profile
from triptych.runner import run_benchmarks

BENCHMARK = "checkpoints[n=5000]"
WAIT = 120.0
"""Seconds the test waits for the run to reach a state: a backstop, not a measurement."""


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert process.poll() is None, f"the run ended before {what}: {process.communicate()[0]}"
        assert time.monotonic() < deadline, f"no {what} within {WAIT} s"
        time.sleep(0.05)  # polling a condition, not waiting a fixed time


def _results(folder: Path) -> list[Path]:
    """The results files in ``folder``, not the temporary ones a file is written through."""
    return [path for path in folder.rglob("*.json") if not path.name.startswith(".")]


def _group_is_gone(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize(
    ("signum", "to_group"), [(signal.SIGINT, True), (signal.SIGTERM, False)], ids=["ctrl-c", "sigterm"]
)
def test_an_interrupted_run_keeps_every_value_and_leaves_nothing_running(
    tmp_path: Path, signum: signal.Signals, to_group: bool
) -> None:
    # trio's worker is the real one in the first round; from the second on it never answers (it
    # waits for its input to end), so the run is still going whenever the signal comes, however
    # slow the host: the quick profile alone can finish before a starved test sees round one.
    trio = tmp_path / "trio-python"
    trio.write_text(
        f'#!/bin/sh\nmkdir "$0.first" 2>/dev/null && exec {sys.executable} "$@"\n'
        f'exec {sys.executable} -c "import sys; sys.stdin.read()"\n'
    )
    trio.chmod(0o755)
    command = [sys.executable, "-m", "triptych", "bench", "--benchmark", BENCHMARK, "--flavour", "asyncio"]
    command += ["--python", f"trio={trio}", "--out", str(tmp_path / "out")]
    process = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        _wait_for(lambda: len(_results(tmp_path / "out")) == 2, process, "first round on disk")
        first_round = {path: pyperf.BenchmarkSuite.load(str(path)) for path in _results(tmp_path / "out")}
        if to_group:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
        output, _ = process.communicate(timeout=WAIT)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        assert process.stdout is not None
        process.stdout.close()

    assert process.returncode == 130, output
    assert "interrupted" in output
    # The runner has reaped what it started; a process still exiting gets a moment.
    deadline = time.monotonic() + 10
    while not _group_is_gone(process.pid):
        assert time.monotonic() < deadline, "a worker or the server outlived the run"
        time.sleep(0.05)
    for path, before in first_round.items():
        suite = pyperf.BenchmarkSuite.load(str(path))  # valid pyperf data, written atomically
        values = suite.get_benchmark(BENCHMARK).get_values()
        assert len(values) >= len(before.get_benchmark(BENCHMARK).get_values()) > 0
    assert not list((tmp_path / "out").rglob(".*")), "a temporary file was left behind"


def test_a_worker_that_hangs_is_killed_and_named_and_the_others_finish(tmp_path: Path) -> None:
    hangs = tmp_path / "hangs"
    hangs.write_text("#!/bin/sh\nexec sleep 600\n")
    hangs.chmod(0o755)
    profile = Profile(
        "tiny", min_rounds=1, max_rounds=1, warmups=1, values=2, budget=60, target=0.0, benchmarks=(BENCHMARK,)
    )
    output = io.StringIO()

    outcome = run_benchmarks(
        profile,
        {"asyncio": sys.executable, "trio": str(hangs)},
        tmp_path / "out",
        console=Console(file=output, width=200),
        answer_timeout=2,
    )

    assert [path.name for path in outcome.written] == ["asyncio.json"]
    assert outcome.failed == ["trio: worker hung: no answer to its first line within 2 s"]
    assert not outcome.interrupted
