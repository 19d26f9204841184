"""Run the divergence catalogue's probes now, on the flavours installed, and show the matrix.

``observe()`` returns the data the report page and ``triptych divergences --json`` print;
``print_matrix()`` draws it as a table of entries by flavours. Nothing is read from a file
of past results: every cell is a probe run in this process, on a fresh loop.
"""

from __future__ import annotations

import importlib
import json
import platform
from collections.abc import Iterable
from importlib import metadata
from typing import Any

from rich.console import Console
from rich.table import Table

from shared.divergences import ENTRIES, Divergence, Observation
from triptych.flavours import FLAVOURS, Flavour, FlavourUnavailable

__all__ = ["TIMEOUT", "format_observation", "installed_flavours", "observe", "print_matrix", "run_probe"]

TIMEOUT = 10.0
"""Seconds on the loop's clock before a probe is stopped as hung: a backstop, not a measurement."""


def installed_flavours(flavours: Iterable[Flavour] = FLAVOURS) -> list[Flavour]:
    """The flavours whose libraries import here."""
    usable = []
    for flavour in flavours:
        try:
            flavour.check()
        except FlavourUnavailable:
            continue
        usable.append(flavour)
    return usable


def run_probe(entry: Divergence, flavour: Flavour) -> Observation:
    """Run ``entry``'s probe on a fresh loop of ``flavour`` and return what it observed.

    An exception that escapes the probe is an observation too (``"escaped: CancelledError"``):
    the library let through what the probe's program did not expect.
    """
    module = importlib.import_module(f"{flavour.package}.divergences")
    try:
        observed: Observation = flavour.run(getattr(module, entry.probe), timeout=TIMEOUT)
    except (KeyboardInterrupt, SystemExit, FlavourUnavailable):
        raise
    except BaseException as exc:
        return f"escaped: {type(exc).__name__}"
    return observed


def _outcome(entry: Divergence, flavour: Flavour) -> dict[str, Any]:
    if flavour.name in entry.not_applicable:
        return {"observed": None, "not_applicable": entry.not_applicable[flavour.name]}
    try:
        return {"observed": run_probe(entry, flavour), "not_applicable": None}
    except Exception as exc:  # a flavour that cannot run is shown in its cell, not a crash of the matrix
        return {"observed": None, "not_applicable": None, "error": f"{type(exc).__name__}: {exc}"}


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def observe(flavours: Iterable[Flavour] | None = None) -> dict[str, Any]:
    """Run every probe on ``flavours`` (default: every installed flavour) and return the matrix:
    ``{"python", "versions", "flavours", "entries": [{"id", "title", "what", "meaning",
    "sources", "outcomes": {flavour: {"observed", "not_applicable"}}}]}``. A probe that raises
    has ``observed`` None and an ``error`` string instead."""
    chosen = installed_flavours() if flavours is None else list(flavours)
    return {
        "python": platform.python_version(),
        "versions": {package: _version(package) for package in ("trio", "anyio", "uvloop")},
        "flavours": [flavour.name for flavour in chosen],
        "entries": [
            {
                "id": entry.id,
                "title": entry.title,
                "what": entry.what,
                "meaning": entry.meaning,
                "sources": list(entry.sources),
                "outcomes": {flavour.name: _outcome(entry, flavour) for flavour in chosen},
            }
            for entry in ENTRIES
        ],
    }


def format_observation(value: Observation | None) -> str:
    """One cell's text: a list joined by arrows (an order), a mapping as ``key: value`` lines."""
    if isinstance(value, dict):
        return "\n".join(f"{key}: {item}" for key, item in value.items())
    if isinstance(value, list):
        return " → ".join(value)
    return "-" if value is None else str(value)


def _cell(outcome: dict[str, Any], reference: dict[str, Any] | None) -> str:
    if outcome["not_applicable"] is not None:
        return f"[dim]n/a: {outcome['not_applicable']}[/dim]"
    if "error" in outcome:
        return f"[red]{outcome['error']}[/red]"
    text = format_observation(outcome["observed"]).replace("[", r"\[")
    if reference is None or outcome["observed"] == reference.get("observed"):
        return text
    return f"[yellow]{text}[/yellow]"


def print_matrix(matrix: dict[str, Any], console: Console) -> None:
    """Entries by flavours; a cell that differs from the first flavour's is yellow."""
    table = Table(
        title=f"divergences: {len(matrix['entries'])} entries, Python {matrix['python']}",
        show_lines=True,
    )
    table.add_column("entry", max_width=28)
    for name in matrix["flavours"]:
        table.add_column(name, overflow="fold")
    for entry in matrix["entries"]:
        outcomes = entry["outcomes"]
        reference = outcomes[matrix["flavours"][0]] if matrix["flavours"] else None
        cells = [_cell(outcomes[name], reference) for name in matrix["flavours"]]
        table.add_row(f"{entry['id']}\n{entry['title']}", *cells)
    console.print(table)
    versions = ", ".join(f"{name} {version or '(not installed)'}" for name, version in matrix["versions"].items())
    console.print(f"[dim]{versions}; yellow: differs from {matrix['flavours'][0] if matrix['flavours'] else '-'}[/dim]")


def to_json(matrix: dict[str, Any]) -> str:
    """The matrix as JSON text, for ``--json``."""
    return json.dumps(matrix, indent=2, ensure_ascii=False)
