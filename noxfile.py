"""nox sessions for triptych: `nox -l` lists them, `nox -s NAME` runs one.

Every session builds its own virtualenv (with uv when it is installed, else virtualenv),
so a run on a fresh machine needs nothing but nox.
"""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path

import nox
from packaging.requirements import Requirement

ROOT = Path(__file__).parent
sys.path.insert(0, str(ROOT))
from triptych.flavours import FLAVOUR_NAMES, FLAVOURS  # noqa: E402  (stdlib only, no install needed)

PYTHONS = ["3.11", "3.12", "3.13"]
# Lower bounds come from pyproject.toml, so a bump there reaches every virtualenv made here.
_PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
_PINS = {
    (requirement := Requirement(line)).name: f"{requirement.name}{requirement.specifier}"
    for line in [*_PROJECT["dependencies"], *_PROJECT["optional-dependencies"]["bench"]]
}
# Each flavour's virtualenv holds the project (installed without its dependencies), the
# measuring tools, and only its own async libraries (Flavour.requirements()): the asyncio
# flavours run without trio, which proves the packages don't lean on each other. (httpx
# itself depends on anyio, so anyio is in every one.)
FLAVOUR_NEEDS = {flavour.name: [_PINS[name] for name in flavour.requirements()] for flavour in FLAVOURS}
FLAVOUR_NEEDS["reference"] = [_PINS["aiohttp"], _PINS["uvloop"]]
TOOLS = [_PINS["httpx"], _PINS["pyperf"], _PINS["rich"]]
ANYIO_VERSIONS = ["4.13.0", "latest"]

nox.needs_version = ">=2024.10"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["compare"]
# `tests` runs on every listed Python that is installed; one that is missing is skipped
# with a message, also under CI=true (where nox would otherwise fail the run).
nox.options.error_on_missing_interpreters = False


@nox.session(python=PYTHONS, tags=["check"])
def tests(session: nox.Session) -> None:
    """Behaviour suite: every workload on all six flavours, against the loopback server."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHONS[0], tags=["check"])
def lint(session: nox.Session) -> None:
    """ruff lint and format check, then the parity check across the three implementations."""
    session.install("-e", ".", "ruff>=0.8")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("python", "-m", "triptych.parity")


@nox.session(python=PYTHONS[0], tags=["check"])
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the contract, the three implementations, the instruments and tests."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session(python=PYTHONS[0], default=False)
def fanout(session: nox.Session) -> None:
    """Fan-out demo: 2000 GETs on every flavour, with a table of what each one did."""
    session.install("-e", ".")
    session.run("python", "-m", "triptych", "fanout", *session.posargs)


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
    session.run(*install, *TOOLS, *needs, external=True)
    return python


@nox.session(python=PYTHONS[0], default=False)
@nox.parametrize("flavour", [*FLAVOUR_NAMES, "reference"], ids=[*FLAVOUR_NAMES, "reference"])
def bench(session: nox.Session, flavour: str) -> None:
    """Benchmark one flavour in a virtualenv holding only its own libraries (`-- --profile full`)."""
    session.install("--no-deps", "-e", ".")
    session.install(*TOOLS, *FLAVOUR_NEEDS[flavour])
    which = ["--reference", "--flavour", "asyncio"] if flavour == "reference" else ["--flavour", flavour]
    session.run("python", "-m", "triptych", "bench", *which, *session.posargs)


@nox.session(python=False)
def compare(session: nox.Session) -> None:
    """Benchmark all six flavours and the references, each in its own virtualenv; print the comparison.

    Quick profile by default; `nox -s compare -- --profile full` for the full one.
    """
    _compare(session, anyio="latest", tag="", extra=session.posargs)


@nox.session(python=PYTHONS, default=False)
@nox.parametrize("anyio", ANYIO_VERSIONS, ids=[f"anyio-{v}" for v in ANYIO_VERSIONS])
def versions(session: nox.Session, anyio: str) -> None:
    """The benchmarks with anyio 4.13 (anyio's flavours and their raw baselines) and the newest,
    on every installed Python 3.11-3.13."""
    _compare(session, anyio=anyio, tag=f"anyio-{anyio}", extra=session.posargs)


@nox.session(python=False, default=False)
def report(session: nox.Session) -> None:
    """Print the comparison of result files or folders, e.g. from several machines (default results/)."""
    session.run(_tools(session), "-m", "triptych", "report", *session.posargs, external=True)


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
    session.run(*install, "-e", ".[plot]", _PINS["pyperf"], external=True)
    return python


def _compare(session: nox.Session, *, anyio: str, tag: str, extra: list[str]) -> None:
    tools = _tools(session)
    flavours = (
        [*FLAVOUR_NAMES, "reference"] if anyio == "latest" else ["asyncio", "trio", "anyio-asyncio", "anyio-trio"]
    )
    pythons = [f"{name}={_flavour_python(session, name, anyio=anyio)}" for name in flavours]
    arguments = [argument for pair in pythons for argument in ("--python", pair)]
    if tag:
        arguments += ["--tag", tag]
    session.run(tools, "-m", "triptych", "bench", *arguments, *extra, external=True)


@nox.session(python=PYTHONS[0], default=False)
def fuzz(session: nox.Session) -> None:
    """Differential fuzzing: at least 200 Hypothesis scenarios per workload, each run on all six flavours."""
    session.install("-e", ".[test]")
    session.run(
        "pytest", "tests/test_fuzz.py", "--hypothesis-profile=fuzz", "--hypothesis-show-statistics", *session.posargs
    )
