"""Check the three implementations line by line: after the idiom rules, every difference is listed with its reason.

httpcore's ``scripts/unasync.py --check`` is the model. ``triptych/mirror.toml`` holds, as
data, for each pair of packages (``impl_trio`` and ``impl_asyncio``, each against
``impl_anyio``):

- ``rule``: regular expressions that turn one library's idiom into the other's
  (``trio.open_nursery()`` -> ``anyio.create_task_group()``), applied in order to every line
  of the left module;
- ``difference``: the lines, in one module of one package, that differ for a reason that the
  rules cannot express, each group with its one-line ``reason``.

After the rules, the two modules of every pair (every module both packages hold: that they
hold the same ones is :mod:`triptych.parity`'s check) are aligned line by line
(``difflib``), and every line outside the aligned ones must be listed as a difference of
its module and package. Comments and docstrings count like code. The check fails on the
first line that is neither mechanical nor listed, and also on a rule or a listed line that
matches nothing, so the table cannot rot.

Run ``python -m triptych.mirror``: it prints the first drift with file:line in both files
and exits 1, or prints a summary and exits 0. :func:`intended_differences` gives the
listed lines with their reasons, for a reader that highlights them.
"""

from __future__ import annotations

import difflib
import re
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "DATA",
    "Difference",
    "IntendedLine",
    "MirrorTable",
    "ModulePair",
    "Rule",
    "check",
    "intended_differences",
    "load",
    "main",
]

DATA = Path(__file__).with_name("mirror.toml")
"""The substitution rules and the intended differences."""
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Rule:
    """Turn ``pattern`` into ``replace`` (``re.sub``) on every line of the left module."""

    pattern: re.Pattern[str]
    replace: str


@dataclass(frozen=True)
class Difference:
    """Lines of ``package/module.py`` (stripped text) that differ for ``reason``."""

    module: str
    package: str
    lines: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Pair:
    left: str
    right: str
    rules: tuple[Rule, ...]
    differences: tuple[Difference, ...]


@dataclass(frozen=True)
class MirrorTable:
    """The whole of ``mirror.toml``."""

    pairs: tuple[Pair, ...]


@dataclass(frozen=True)
class ModulePair:
    """One module as two packages hold it: ``left`` is translated into ``right``'s idiom."""

    module: str
    left: str
    right: str


@dataclass(frozen=True)
class IntendedLine:
    """One line that differs on purpose: where it is, what it says, and why."""

    package: str
    line: int
    text: str
    reason: str


@dataclass
class _Usage:
    rules: set[int] = field(default_factory=set)
    lines: set[tuple[int, int]] = field(default_factory=set)


def load(path: Path = DATA) -> MirrorTable:
    """Read the table at ``path``."""
    data: dict[str, Any] = tomllib.loads(path.read_text())
    pairs = tuple(
        Pair(
            pair["left"],
            pair["right"],
            tuple(Rule(re.compile(rule["pattern"]), rule["replace"]) for rule in pair.get("rule", [])),
            tuple(
                Difference(
                    entry["module"],
                    entry["package"],
                    tuple(line.strip() for line in entry["lines"].removesuffix("\n").split("\n")),
                    entry["reason"],
                )
                for entry in pair.get("difference", [])
            ),
        )
        for pair in data["pair"]
    )
    return MirrorTable(pairs)


def _modules(root: Path, pair: Pair) -> list[str]:
    held = [{path.stem for path in (root / package).glob("*.py")} for package in (pair.left, pair.right)]
    return sorted(held[0] & held[1])


def _translate(pair: Pair, lines: list[str], usage: _Usage) -> list[str]:
    translated = []
    for line in lines:
        for index, rule in enumerate(pair.rules):
            new = rule.pattern.sub(rule.replace, line)
            if new != line:
                usage.rules.add(index)
                line = new
        translated.append(line)
    return translated


def _listed(pair: Pair, module: str, package: str, text: str, usage: _Usage) -> Difference | None:
    """The difference that lists ``text`` for ``package/module.py``, taking its next unused slot.

    Each listed line covers one differing line: a text listed twice covers two, in order.
    """
    for number, difference in enumerate(pair.differences):
        if difference.module != module or difference.package != package:
            continue
        for position, listed in enumerate(difference.lines):
            if listed == text and (number, position) not in usage.lines:
                usage.lines.add((number, position))
                return difference
    return None


def _compare(root: Path, pair: Pair, module: str, usage: _Usage, intended: list[IntendedLine]) -> Iterator[str]:
    """The drifts of one module pair; the listed lines go into ``intended``."""
    left_path, right_path = (f"{package}/{module}.py" for package in (pair.left, pair.right))
    left = (root / left_path).read_text().splitlines()
    right = (root / right_path).read_text().splitlines()
    translated = _translate(pair, left, usage)
    matcher = difflib.SequenceMatcher(None, translated, right, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        sides = ((pair.left, left, i1, i2, j1, right_path), (pair.right, right, j1, j2, i1, left_path))
        for package, lines, start, end, other_start, other_path in sides:
            for number in range(start, end):
                text = lines[number].strip()
                difference = _listed(pair, module, package, text, usage)
                if difference is None:
                    other_line = other_start + (number - start) + 1
                    this_path = f"{package}/{module}.py"
                    after = f"\n  after the rules: {translated[number].strip()!r}" if package == pair.left else ""
                    yield (
                        f"{this_path}:{number + 1} (against {other_path}:{other_line}) is neither mechanical "
                        f"nor a listed difference:\n  {text!r}{after}"
                    )
                else:
                    intended.append(IntendedLine(package, number + 1, lines[number], difference.reason))


def _unused(pair: Pair, usage: _Usage) -> Iterator[str]:
    for index, rule in enumerate(pair.rules):
        if index not in usage.rules:
            yield f"mirror.toml: the {pair.left} -> {pair.right} rule {rule.pattern.pattern!r} matches nothing"
    for number, difference in enumerate(pair.differences):
        for position, text in enumerate(difference.lines):
            if (number, position) not in usage.lines:
                yield (
                    f"mirror.toml: the listed difference {text!r} of {difference.package}/{difference.module}.py "
                    f"({pair.left} against {pair.right}) matches no differing line"
                )


def _run(root: Path, table: MirrorTable) -> tuple[list[str], dict[ModulePair, list[IntendedLine]]]:
    problems: list[str] = []
    found: dict[ModulePair, list[IntendedLine]] = {}
    for pair in table.pairs:
        usage = _Usage()
        for module in _modules(root, pair):
            intended = found.setdefault(ModulePair(module, pair.left, pair.right), [])
            problems.extend(_compare(root, pair, module, usage, intended))
        problems.extend(_unused(pair, usage))
    return problems, found


def check(root: Path = ROOT, table: MirrorTable | None = None) -> list[str]:
    """Every drift between the module pairs under ``root``, first drift first; [] when none."""
    return _run(root, table or load())[0]


def intended_differences(root: Path = ROOT) -> dict[ModulePair, list[IntendedLine]]:
    """Per module pair, the lines that differ on purpose, on both sides, with their reasons."""
    return _run(root, load())[1]


def main() -> int:
    problems = check()
    if problems:
        print(f"mirror: {problems[0]}")
        if len(problems) > 1:
            print(f"mirror: ... and {len(problems) - 1} more")
        return 1
    table = load()
    listed = sum(len(difference.lines) for pair in table.pairs for difference in pair.differences)
    rules = sum(len(pair.rules) for pair in table.pairs)
    print(f"mirror: every module pair matches after {rules} rules, but {listed} listed lines with their reasons")
    return 0


if __name__ == "__main__":
    sys.exit(main())
