"""The flavours themselves: exactly six, each on its own loop, and a clear error when one can't run."""

from __future__ import annotations

import sys
from collections import Counter

import pytest

from tests.helpers import Run
from triptych.flavours import FLAVOUR_NAMES, FLAVOURS, Flavour, FlavourUnavailable

SIX = ("asyncio", "asyncio+uvloop", "trio", "anyio-asyncio", "anyio-uvloop", "anyio-trio")


def test_the_flavours_are_exactly_the_six() -> None:
    assert FLAVOUR_NAMES == SIX


def test_every_flavoured_test_was_collected_for_all_six(request: pytest.FixtureRequest) -> None:
    # A mis-parametrized fixture would turn "6 passed" into "4 passed" without a word.
    per_test: dict[str, Counter[str]] = {}
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "flavour" in callspec.params:
            others = sorted((k, repr(v)) for k, v in callspec.params.items() if k != "flavour")
            base = f"{item.path.name}::{item.originalname}{others}"  # type: ignore[attr-defined]
            per_test.setdefault(base, Counter())[callspec.params["flavour"].name] += 1
    assert per_test, "no test took the flavour fixture"
    for base, seen in per_test.items():
        assert seen == Counter(SIX), f"{base} ran on {sorted(seen)}"


def _loop_name() -> str:
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_trio_token()
            return "trio"
        except RuntimeError:
            pass
    import asyncio

    return type(asyncio.get_running_loop()).__module__.split(".")[0]


async def _where() -> str:
    return _loop_name()


def test_each_flavour_runs_on_its_own_loop(flavour: Flavour, run: Run) -> None:
    expected = {"asyncio": "asyncio", "uvloop": "uvloop", "trio": "trio"}[flavour.loop]

    assert run(_where) == expected


@pytest.mark.parametrize("missing", ["trio", "uvloop", "anyio"])
def test_a_missing_library_fails_with_the_package_to_install(
    flavour: Flavour, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # makes `import <missing>` fail

    if missing not in (flavour.library, flavour.loop):
        # A library the flavour does not use must not stop it.
        assert flavour.run(_where) == flavour.loop
        return
    with pytest.raises(FlavourUnavailable) as caught:
        flavour.run(_where)
    assert f"flavour {flavour.name!r} needs {missing}" in str(caught.value)
    assert f"pip install {' '.join(flavour.requirements())}" in str(caught.value)
    assert missing in flavour.requirements()


def test_an_unknown_flavour_names_the_valid_ones() -> None:
    from triptych.flavours import get

    with pytest.raises(ValueError, match="unknown flavour 'curio'; choose from asyncio, asyncio"):
        get("curio")
    assert [get(name) for name in SIX] == list(FLAVOURS)
