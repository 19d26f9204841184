"""The clause check (triptych.clauses): every contract clause has a test, and each kind of rot fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from triptych import clauses

CONTRACT = '''
class Fanout(Protocol):
    def fetch_all(self) -> None:
        """Fetch.

        - [fanout.limit] At most ``limit`` at once.
        - [fanout.order] In input order.

        Raises: [fanout.args]
          TypeError: bad input.
        """
'''

TESTS = """
@pytest.mark.clause("fanout.limit", "fanout.order")
def test_limit(fanout: Fanout) -> None: ...


@pytest.mark.parametrize("x", [1])
@pytest.mark.clause("fanout.args")
def test_args(fanout: Fanout, x: int) -> None: ...


def test_a_plain_dataclass() -> None: ...
"""


def _tree(tmp_path: Path, contract: str = CONTRACT, tests: str = TESTS) -> Path:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "fanout.py").write_text(contract)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_fanout.py").write_text(tests)
    return tmp_path


def test_every_clause_of_the_contract_has_a_test() -> None:
    assert clauses.check() == []


def test_the_ids_are_read_with_their_places(tmp_path: Path) -> None:
    root = _tree(tmp_path)

    assert clauses.clauses(root) == [
        clauses.Clause("fanout.limit", "shared/fanout.py:6"),
        clauses.Clause("fanout.order", "shared/fanout.py:7"),
        clauses.Clause("fanout.args", "shared/fanout.py:9"),
    ]
    assert clauses.marks(root) == [
        clauses.ClauseMark("test_limit", ("fanout.limit", "fanout.order"), "tests/test_fanout.py:3"),
        clauses.ClauseMark("test_args", ("fanout.args",), "tests/test_fanout.py:8"),
    ]
    assert clauses.check(root) == []


def test_a_clause_no_test_names_is_listed(tmp_path: Path) -> None:
    root = _tree(tmp_path, tests=TESTS.replace(', "fanout.order"', ""))

    assert clauses.check(root) == ["shared/fanout.py:7: no test names clause [fanout.order]"]


def test_a_mark_naming_no_clause_is_listed(tmp_path: Path) -> None:
    root = _tree(
        tmp_path, tests=TESTS + '\n@pytest.mark.clause("fanout.gone")\ndef test_gone(fanout: Fanout) -> None: ...\n'
    )

    assert clauses.check(root) == [
        "tests/test_fanout.py:14: test_gone names [fanout.gone], which no docstring in shared/ gives"
    ]


def test_an_id_given_twice_is_listed(tmp_path: Path) -> None:
    root = _tree(tmp_path, contract=CONTRACT.replace("[fanout.order]", "[fanout.limit]"))

    assert clauses.check(root) == [
        "shared/fanout.py:7: [fanout.limit] is already the id of shared/fanout.py:6",
        "tests/test_fanout.py:3: test_limit names [fanout.order], which no docstring in shared/ gives",
    ]


def test_a_behaviour_test_naming_no_clause_is_listed(tmp_path: Path) -> None:
    root = _tree(tmp_path, tests=TESTS + "\ndef test_unmarked(pipeline: Pipeline) -> None: ...\n")

    assert clauses.check(root) == ["tests/test_fanout.py:13: test_unmarked takes a workload but names no clause"]


def test_a_mark_must_name_its_clauses_literally(tmp_path: Path) -> None:
    root = _tree(tmp_path, tests="@pytest.mark.clause(ID)\ndef test_x(fanout: Fanout) -> None: ...\n")

    with pytest.raises(ValueError, match="a clause mark takes string literals, got ID"):
        clauses.marks(root)
