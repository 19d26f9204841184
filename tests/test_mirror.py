"""The line-level mirror check (triptych.mirror): it passes on the tree, and fails on each kind of rot."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import pytest

from triptych import mirror
from triptych.parity import IMPL_PACKAGES


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the three implementation packages, to spoil."""
    for package in IMPL_PACKAGES:
        shutil.copytree(mirror.ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_the_tree_matches_its_table() -> None:
    assert mirror.check() == []


def test_a_stray_line_fails_naming_the_file_and_line_in_both_files(tree: Path) -> None:
    path = tree / "impl_trio" / "locks.py"
    lines = path.read_text().splitlines()
    number = lines.index("    accounts = Accounts(balance_list)") + 1
    lines.insert(number, "    accounts.report()")
    path.write_text("\n".join(lines) + "\n")

    problems = mirror.check(tree)

    assert problems
    assert problems[0].startswith(f"impl_trio/locks.py:{number + 1} (against impl_anyio/locks.py:")
    assert "'accounts.report()'" in problems[0]


def test_a_drifted_comment_is_a_drift(tree: Path) -> None:
    path = tree / "impl_anyio" / "locks.py"
    path.write_text(path.read_text().replace("(acquire enqueues", "(acquire parks"))

    assert any(re.match(r"impl_anyio/locks\.py:\d+ \(against impl_trio/locks\.py:\d+\)", p) for p in mirror.check(tree))


def _with_pair(table: mirror.MirrorTable, index: int, **changes: object) -> mirror.MirrorTable:
    pairs = list(table.pairs)
    pairs[index] = dataclasses.replace(pairs[index], **changes)  # type: ignore[arg-type]
    return dataclasses.replace(table, pairs=tuple(pairs))


def test_deleting_a_used_rule_fails() -> None:
    table = mirror.load()
    trio = table.pairs[0]
    rules = tuple(rule for rule in trio.rules if rule.pattern.pattern != r"\btrio\.open_nursery\(\)")
    assert len(rules) == len(trio.rules) - 1

    problems = mirror.check(table=_with_pair(table, 0, rules=rules))

    assert problems
    assert "anyio.create_task_group()" in problems[0] or "trio.open_nursery()" in problems[0]


def test_a_rule_that_matches_nothing_fails() -> None:
    table = mirror.load()
    unused = mirror.Rule(re.compile(r"\btrio\.no_such_idiom\b"), "anyio.no_such_idiom")

    problems = mirror.check(table=_with_pair(table, 0, rules=(*table.pairs[0].rules, unused)))

    assert problems == [
        "mirror.toml: the impl_trio -> impl_anyio rule '\\\\btrio\\\\.no_such_idiom\\\\b' matches nothing"
    ]


def test_a_listed_difference_that_matches_nothing_fails() -> None:
    table = mirror.load()
    stale = mirror.Difference("locks", "impl_trio", ("# a line long gone",), "a reason")

    problems = mirror.check(table=_with_pair(table, 0, differences=(*table.pairs[0].differences, stale)))

    assert problems == [
        "mirror.toml: the listed difference '# a line long gone' of impl_trio/locks.py "
        "(impl_trio against impl_anyio) matches no differing line"
    ]


def test_the_intended_differences_give_place_text_and_reason_on_both_sides() -> None:
    found = mirror.intended_differences()
    timeouts = found[mirror.ModulePair("timeouts", "impl_asyncio", "impl_anyio")]
    shielded = [line for line in timeouts if line.text.strip() == "await shielded(_cleanup(index, job, on_event))"]

    assert len(shielded) == 1
    assert shielded[0].package == "impl_asyncio"
    source = (mirror.ROOT / "impl_asyncio" / "timeouts.py").read_text().splitlines()
    assert source[shielded[0].line - 1] == shielded[0].text
    assert "shielded cancel scope" in shielded[0].reason
    assert {line.package for line in timeouts} == {"impl_asyncio", "impl_anyio"}
    assert set(found) >= {
        mirror.ModulePair(module, left, "impl_anyio")
        for module in ("fanout", "pipeline", "timeouts", "cancellation", "locks", "primitives", "divergences")
        for left in ("impl_trio", "impl_asyncio")
    }
