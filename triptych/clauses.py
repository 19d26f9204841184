"""List the contract's clauses that no test checks: clause ids in ``shared/``, clause marks in ``tests/``.

A clause of the contract is a bullet, a paragraph or a ``Raises:`` section of a docstring in
``shared/`` that carries its id in brackets::

    - [fanout.limit] At most ``limit`` requests are in flight at any moment, ...

    Raises: [fanout.args]

A behaviour test names the clauses it checks with a mark, which pytest knows from
``pyproject.toml``::

    @pytest.mark.clause("fanout.limit")
    def test_limit_is_reached_and_never_exceeded(fanout: Fanout, run: Run, ...) -> None:

Run ``python -m triptych.clauses``: it reads both sides as text (it imports neither the
tests nor pytest, so it runs in the lint session) and exits 1 listing every clause that no
test names, every mark that names no clause, every id given to two clauses, and every
behaviour test (one that takes a workload fixture: ``fanout``, ``pipeline``, ...) that names
no clause; otherwise it prints a summary and exits 0.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shared import WORKLOADS

__all__ = ["Clause", "ClauseMark", "check", "clauses", "main", "marks"]

ROOT = Path(__file__).resolve().parent.parent
CLAUSE_ID = re.compile(r"^\s*(?:- |Raises: )?\[([a-z_]+(?:\.[a-z_]+)+)\]", re.MULTILINE)
"""An id at the start of a docstring line, of a bullet, or after ``Raises:``."""


@dataclass(frozen=True)
class Clause:
    """A clause of the contract: its id, and where it is (``shared/fanout.py:145``)."""

    id: str
    where: str


@dataclass(frozen=True)
class ClauseMark:
    """A test, the clause ids it names (none for an unmarked behaviour test), and where it is."""

    test: str
    ids: tuple[str, ...]
    where: str


def clauses(root: Path = ROOT) -> list[Clause]:
    """Every clause id in the docstrings of ``shared/``, in file and line order."""
    found = []
    for path in sorted((root / "shared").glob("*.py")):
        for first_line, text in _docstrings(ast.parse(path.read_text(), str(path))):
            for match in CLAUSE_ID.finditer(text):
                line = first_line + text.count("\n", 0, match.start(1))
                found.append(Clause(match.group(1), f"shared/{path.name}:{line}"))
    return found


def marks(root: Path = ROOT) -> list[ClauseMark]:
    """Every test in ``tests/`` that names a clause, and every behaviour test that names none."""
    found = []
    for path in sorted((root / "tests").glob("test_*.py")):
        for node in ast.parse(path.read_text(), str(path)).body:
            if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
                continue
            ids = tuple(_marked_ids(node))
            behaviour = any(arg.arg in WORKLOADS for arg in node.args.args)
            if ids or behaviour:
                found.append(ClauseMark(node.name, ids, f"tests/{path.name}:{node.lineno}"))
    return found


def check(root: Path = ROOT) -> list[str]:
    """The problems, one line each; empty when every clause has a test and every mark a clause."""
    given = clauses(root)
    known = {clause.id for clause in given}
    tested = {clause_id for mark in marks(root) for clause_id in mark.ids}
    problems = []
    seen: dict[str, str] = {}
    for clause in given:
        if clause.id in seen:
            problems.append(f"{clause.where}: [{clause.id}] is already the id of {seen[clause.id]}")
        seen.setdefault(clause.id, clause.where)
        if clause.id not in tested:
            problems.append(f"{clause.where}: no test names clause [{clause.id}]")
    for mark in marks(root):
        if not mark.ids:
            problems.append(f"{mark.where}: {mark.test} takes a workload but names no clause")
        problems.extend(
            f"{mark.where}: {mark.test} names [{clause_id}], which no docstring in shared/ gives"
            for clause_id in mark.ids
            if clause_id not in known
        )
    return problems


def _docstrings(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Every string that stands alone as a statement (the docstrings of modules, classes,
    functions and names), with the line it starts on."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            yield node.lineno, node.value.value


def _marked_ids(test: ast.FunctionDef) -> Iterator[str]:
    """The string arguments of the test's ``@pytest.mark.clause(...)`` decorators."""
    for decorator in test.decorator_list:
        if isinstance(decorator, ast.Call) and ast.unparse(decorator.func) == "pytest.mark.clause":
            for arg in decorator.args:
                if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                    raise ValueError(f"{test.name}: a clause mark takes string literals, got {ast.unparse(arg)}")
                yield arg.value


def main() -> int:
    problems = check()
    for problem in problems:
        print(f"clauses: {problem}")
    if problems:
        return 1
    tests = sum(1 for mark in marks() if mark.ids)
    print(f"clauses: every one of {len(clauses())} contract clauses is named by a test ({tests} tests name one)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
