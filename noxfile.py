"""nox sessions for triptych: `nox -l` lists them, `nox -s NAME` runs one.

Every session builds its own virtualenv (with uv when it is installed, else virtualenv),
so a run on a fresh machine needs nothing but nox.
"""

from __future__ import annotations

import nox

PYTHONS = ["3.11", "3.12", "3.13"]

nox.needs_version = ">=2024.10"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "tests"]
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
