"""The flavours themselves: exactly those that exist for the running Python, each on its own
loop, and a clear error when one can't run."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections import Counter

import pytest

import shared
from tests.helpers import Run
from triptych.flavours import FLAVOUR_NAMES, FLAVOURS, SLOW_CALLBACK, Flavour, FlavourUnavailable

SIX = ("asyncio", "asyncio+uvloop", "trio", "anyio-asyncio", "anyio-uvloop", "anyio-trio")
EAGER = sys.version_info >= (3, 12)
"""asyncio.eager_task_factory is new in Python 3.12, and so is the asyncio+eager flavour."""
EXPECTED = (*SIX[:2], "asyncio+eager", *SIX[2:]) if EAGER else SIX


def test_the_flavours_are_exactly_those_that_exist_for_this_python() -> None:
    # On 3.12+ a missing asyncio+eager would be a flavour dropped without a word.
    assert FLAVOUR_NAMES == EXPECTED
    assert hasattr(asyncio, "eager_task_factory") is EAGER


def test_every_flavoured_test_was_collected_for_every_flavour(request: pytest.FixtureRequest) -> None:
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
        assert seen == Counter(EXPECTED), f"{base} ran on {sorted(seen)}"


def _loop_name() -> str:
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_trio_token()
            return "trio"
        except RuntimeError:
            pass
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


async def _where() -> str:
    return _loop_name()


def test_each_flavour_runs_on_its_own_loop(flavour: Flavour, run: Run) -> None:
    expected = {"asyncio": "asyncio", "uvloop": "uvloop", "trio": "trio"}[flavour.loop]

    assert run(_where) == expected


async def _runs_before_create_task_returns() -> bool:
    ran = False

    async def child() -> None:
        nonlocal ran
        ran = True

    task = asyncio.create_task(child())
    started_eagerly = ran
    await task
    return started_eagerly


@pytest.mark.parametrize("name", [f.name for f in FLAVOURS if f.library == "asyncio" and f.loop == "asyncio"])
def test_only_the_eager_flavour_starts_tasks_inside_create_task(name: str) -> None:
    from triptych.flavours import get

    flavour = get(name)

    assert flavour.run(_runs_before_create_task_returns) is flavour.eager
    assert flavour.run(_runs_before_create_task_returns, virtual_clock=True) is flavour.eager


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
    assert [get(name) for name in EXPECTED] == list(FLAVOURS)


async def _asyncio_debug() -> tuple[bool, float, bool] | None:
    """The running asyncio loop's debug mode (it tracks where each coroutine comes from), its
    slow-callback bound, and whether a new future records the stack it is created on; None
    on Trio's loop."""
    if _loop_name() == "trio":
        return None
    loop = asyncio.get_running_loop()
    created_at = getattr(loop.create_future(), "_source_traceback", None)
    return sys.get_coroutine_origin_tracking_depth() > 0, loop.slow_callback_duration, created_at is not None


def test_the_suite_runs_asyncio_loops_in_debug_mode_without_creation_stacks(
    flavour: Flavour, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTHONASYNCIODEBUG", raising=False)
    expected = None if flavour.loop == "trio" else (True, SLOW_CALLBACK, False)

    assert run(_asyncio_debug) == expected
    assert run.virtual(_asyncio_debug) == expected


def test_pythonasynciodebug_gives_the_whole_debug_mode(
    flavour: Flavour, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONASYNCIODEBUG", "1")
    expected = None if flavour.loop == "trio" else (True, SLOW_CALLBACK, True)

    assert run(_asyncio_debug) == expected


def test_a_flavour_runs_without_debug_mode_unless_asked(flavour: Flavour, monkeypatch: pytest.MonkeyPatch) -> None:
    # The benchmarks run this way: debug mode slows asyncio down.
    monkeypatch.delenv("PYTHONASYNCIODEBUG", raising=False)
    expected = None if flavour.loop == "trio" else (False, 0.1, False)

    assert flavour.run(_asyncio_debug) == expected


@pytest.mark.parametrize("workload", shared.WORKLOADS)
def test_each_workload_fixture_is_the_flavours_module(
    flavour: Flavour, workload: str, request: pytest.FixtureRequest
) -> None:
    assert request.getfixturevalue(workload) is importlib.import_module(f"{flavour.package}.{workload}")
