"""Structural parity: the three packages expose the contract's names with its signatures."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

import impl_anyio.cancellation
import impl_anyio.fanout
import impl_anyio.locks
import impl_anyio.offload
import impl_anyio.pipeline
import impl_anyio.primitives
import impl_anyio.streams
import impl_anyio.timeouts
import impl_asyncio.cancellation
import impl_asyncio.fanout
import impl_asyncio.locks
import impl_asyncio.offload
import impl_asyncio.pipeline
import impl_asyncio.primitives
import impl_asyncio.streams
import impl_asyncio.timeouts
import impl_trio.cancellation
import impl_trio.fanout
import impl_trio.locks
import impl_trio.offload
import impl_trio.pipeline
import impl_trio.primitives
import impl_trio.streams
import impl_trio.timeouts
import shared
from shared.cancellation import Cancellation
from shared.fanout import Fanout
from shared.locks import Locks
from shared.offload import Offload
from shared.pipeline import Pipeline
from shared.primitives import Primitives
from shared.streams import Streams
from shared.timeouts import Timeouts
from triptych import parity

# mypy --strict checks these assignments: each module must satisfy its contract's Protocol.
_FANOUT: tuple[Fanout, ...] = (impl_asyncio.fanout, impl_trio.fanout, impl_anyio.fanout)
_PIPELINE: tuple[Pipeline, ...] = (impl_asyncio.pipeline, impl_trio.pipeline, impl_anyio.pipeline)
_TIMEOUTS: tuple[Timeouts, ...] = (impl_asyncio.timeouts, impl_trio.timeouts, impl_anyio.timeouts)
_CANCELLATION: tuple[Cancellation, ...] = (impl_asyncio.cancellation, impl_trio.cancellation, impl_anyio.cancellation)
_LOCKS: tuple[Locks, ...] = (impl_asyncio.locks, impl_trio.locks, impl_anyio.locks)
_OFFLOAD: tuple[Offload, ...] = (impl_asyncio.offload, impl_trio.offload, impl_anyio.offload)
_PRIMITIVES: tuple[Primitives, ...] = (impl_asyncio.primitives, impl_trio.primitives, impl_anyio.primitives)
_STREAMS: tuple[Streams, ...] = (impl_asyncio.streams, impl_trio.streams, impl_anyio.streams)


def test_every_mirrored_module_has_a_static_contract_check() -> None:
    checked = {"fanout", "pipeline", "timeouts", "cancellation", "locks", "offload", "streams", "primitives"}
    assert set(shared.MIRRORED) == checked


def test_the_three_packages_match_the_contract() -> None:
    assert parity.check() == []


def test_a_drifted_signature_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fetch_all(urls: list[str], *, limit: int) -> None: ...

    monkeypatch.setattr(impl_trio.fanout, "fetch_all", fetch_all)

    problems = parity.check()

    assert problems
    assert problems[0].startswith("impl_trio/fanout.py: fetch_all() differs from Fanout.fetch_all")


def test_a_drifted_all_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(impl_anyio.fanout, "__all__", ["fetch_all"])

    assert parity.check() == [
        "impl_anyio/fanout.py: __all__ is ['fetch_all'], the contract says ['fetch_all', 'fetch_as_completed']"
    ]


def test_a_module_only_one_package_holds_is_reported(tmp_path: Path) -> None:
    for package in parity.IMPL_PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "locks.py").touch()
    (tmp_path / "impl_asyncio" / "_helpers.py").touch()

    assert list(parity._check_modules(tmp_path)) == [
        "impl_asyncio/_helpers.py: the other packages have no such module; a helper belongs in the module "
        "using it (or, if several use it, in the one whose job it is)"
    ]


def test_sections_are_compared_in_order(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "# --- One ---\ndef _a(): ...\n# --- Only in trio: a reason ---\ndef _b(): ...\n# --- Two ---\ndef c(): ...\n"
    )

    assert parity._outline(source) == ["One", "Two"]


def test_shared_imports_no_async_library() -> None:
    for path in Path(shared.__path__[0]).glob("*.py"):
        assert not parity._imports(path) & parity.ASYNC_LIBRARIES, path.name


@pytest.mark.parametrize("workload", shared.WORKLOADS)
def test_every_public_name_of_a_contract_module_is_contract_or_support(workload: str) -> None:
    module = importlib.import_module(f"shared.{workload}")
    defined = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and getattr(value, "__module__", module.__name__) == module.__name__
        and (inspect.isclass(value) or inspect.isfunction(value))
    }
    contract, support = set(module.__all__), set(module.SUPPORT)
    assert not contract & support
    assert defined <= contract | support, sorted(defined - contract - support)
    assert contract | support <= set(vars(module))
