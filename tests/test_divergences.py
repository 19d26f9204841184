"""The divergence catalogue, pinned: every probe on every flavour, per Python where it differs.

A library release that changes one of these behaviours fails here with a message that names
the entry: "D07 (the body of a task group raises) on anyio-trio: expected X, observed Y".
"""

from __future__ import annotations

import importlib
import json
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

import shared
from shared.divergences import ENTRIES, Divergence, Observation, by_id
from triptych import parity
from triptych.cli import main
from triptych.divergences import observe, run_probe
from triptych.flavours import FLAVOUR_NAMES, FLAVOURS, Flavour, get

PYTHON = sys.version_info[:2]
ASYNCIO_FLAVOURS = ("asyncio", "asyncio+uvloop")


def per_python(**by_version: Observation) -> Observation:
    """The outcome for the running Python: keys ``py311``, ``py312``... each valid from that
    version on, until the next key."""
    chosen = [value for key, value in sorted(by_version.items()) if (3, int(key[3:])) <= PYTHON]
    return chosen[-1]


def outcomes(
    *,
    asyncio: Observation,
    trio: Observation,
    anyio: Observation | None = None,
    anyio_trio: Observation | None = None,
    uvloop: Observation | None = None,
    eager: Observation | None = None,
) -> dict[str, Observation]:
    """One entry's pins. AnyIO on asyncio defaults to Trio's outcome (AnyIO follows Trio's
    model); AnyIO on Trio to AnyIO on asyncio's; asyncio+uvloop and asyncio+eager (3.12+)
    to asyncio's."""
    anyio = trio if anyio is None else anyio
    pins = {
        "asyncio": asyncio,
        "asyncio+uvloop": asyncio if uvloop is None else uvloop,
        "trio": trio,
        "anyio-asyncio": anyio,
        "anyio-uvloop": anyio,
        "anyio-trio": anyio if anyio_trio is None else anyio_trio,
    }
    if "asyncio+eager" in FLAVOUR_NAMES:  # Python 3.12+
        pins["asyncio+eager"] = asyncio if eager is None else eager
    return pins


def _everywhere(value: Observation) -> dict[str, Observation]:
    return dict.fromkeys(FLAVOUR_NAMES, value)


NO_SHUTDOWN = "no Queue.shutdown (Python 3.13+)"

EXPECTED: dict[str, dict[str, Observation]] = {
    "D01": outcomes(asyncio="completes", trio="cancelled again"),
    "D02": outcomes(asyncio="runs on", trio="cancelled again"),
    # An eager task's first step runs inside create_task, before any cancel can reach it.
    "D03": outcomes(asyncio="never ran", trio="ran to its first await", eager="ran to its first await"),
    "D04": outcomes(asyncio="lost", trio="kept"),
    "D05": outcomes(
        asyncio=["caller resumed", "cleanup finished"],
        trio=["cleanup finished", "caller resumed"],
        # The shielded cleanup is eager: it has finished before shield() returns.
        eager=["cleanup finished", "caller resumed"],
    ),
    # Under eager tasks on 3.12 (3.12.1 measured) a child that fails inside create_task
    # cancels the body, and that CancelledError, not the group, leaves the task group.
    "D06": outcomes(
        asyncio="ExceptionGroup(ValueError)",
        trio="ExceptionGroup(ValueError)",
        eager=per_python(py311="(no eager tasks)", py312="escaped: CancelledError", py313="ExceptionGroup(ValueError)"),
    ),
    "D07": _everywhere(["child cancelled", "ExceptionGroup(ValueError)"]),
    "D08": outcomes(asyncio=["RuntimeError"], trio=["late child started"]),
    "D09": outcomes(
        asyncio=per_python(py311=["no TaskGroup.cancel()"], py315=["body ran on", "left quietly"]),
        trio=["body ran on", "left quietly"],
    ),
    "D10": _everywhere("ExceptionGroup(ValueError)"),
    "D11": outcomes(
        asyncio={"Lock.acquire": "no checkpoint", "Queue.get": "no checkpoint"},
        trio={"Lock.acquire": "checkpoint", "receive": "checkpoint"},
    ),
    "D12": outcomes(asyncio=["ab"], trio=["ab", "ba"], anyio=["ab"], anyio_trio=["ab", "ba"]),
    "D13": outcomes(
        asyncio=per_python(
            py311=["no eager_task_factory (Python 3.12+)"],
            py312=["child's first step", "create_task returned"],
        ),
        uvloop=per_python(
            py311=["no eager_task_factory (Python 3.12+)"],
            py312=["child's first step", "create_task returned"],
            py313=["TypeError from create_task"],
        ),
        trio=["start_soon returned", "child's first step"],
    ),
    "D14": outcomes(
        asyncio="TimeoutError, a TimeoutError",
        trio="TooSlowError, not a TimeoutError",
        anyio="TimeoutError, a TimeoutError",
    ),
    "D15": outcomes(asyncio="unbounded", trio="no default: a size is required", anyio="0 items"),
    "D16": outcomes(
        asyncio=per_python(py311=[NO_SHUTDOWN], py313=["b refused: QueueShutDown", "from a"]),
        trio=["from a", "from b"],
    ),
    "D17": outcomes(asyncio="released", trio="RuntimeError"),
    "D18": _everywhere({"plain": "value 2", "bounded": "ValueError"}),
    "D19": _everywhere(["waiter", "releaser"]),
    "D20": outcomes(asyncio="caller resumed, thread runs on", trio="caller waited for the thread"),
    "D21": outcomes(
        asyncio={"to_thread": "copied", "run_in_executor": "not copied"},
        trio={"to_thread.run_sync": "copied"},
    ),
    # concurrent.futures' default, which asyncio's default executor takes (3.13 counts the CPUs
    # this process may use).
    "D22": outcomes(
        asyncio=min(32, (getattr(__import__("os"), "process_cpu_count", __import__("os").cpu_count)() or 1) + 4),
        trio=40,
    ),
    "D23": outcomes(
        asyncio="CancelledError in the consumer",
        trio="Cancelled in the consumer",
        anyio="CancelledError in the consumer",
        anyio_trio="Cancelled in the consumer",
    ),
    "D24": outcomes(
        asyncio="CancelledError in the main task",
        trio="KeyboardInterrupt in the main task",
        anyio="CancelledError in the main task",
        anyio_trio="KeyboardInterrupt in the main task",
    ),
    "D25": outcomes(asyncio="no TaskGroup.start()", trio="started"),
    "D26": outcomes(asyncio="RuntimeError", trio="RuntimeError", anyio="reused", anyio_trio="RuntimeError"),
    "D27": outcomes(
        asyncio="time.monotonic()",
        trio="offset from time.monotonic()",
        anyio="time.monotonic()",
        anyio_trio="offset from time.monotonic()",
    ),
    "D28": outcomes(asyncio="sibling runs on", trio="sibling cancelled"),
    "D29": outcomes(asyncio=per_python(py311="new task", py312="same task"), trio="same task"),
    "D30": outcomes(asyncio=["first", "rest still running"], trio=["first", "rest cancelled"]),
    "D31": _everywhere("holds the lock"),
    "D32": outcomes(
        asyncio=per_python(
            py311={"shutdown": NO_SHUTDOWN}, py313={"receive": "QueueShutDown", "send": "QueueShutDown"}
        ),
        trio={"receive": "EndOfChannel", "send": "BrokenResourceError"},
        anyio={"receive": "EndOfStream", "send": "BrokenResourceError"},
    ),
    "D33": outcomes(asyncio="cleared", trio="no clear(): make a new Event"),
    "D34": outcomes(asyncio="waits for itself", trio="RuntimeError"),
}


def check(entry: Divergence, flavour: str, observed: Observation, expected: Mapping[str, Observation]) -> None:
    """Fail with the entry's id and title, the flavour, and both outcomes."""
    if observed != expected[flavour]:
        raise AssertionError(
            f"{entry.id} ({entry.title}) on {flavour}: expected {expected[flavour]!r}, observed {observed!r}"
        )


def _applicable() -> Iterator[object]:
    for entry in ENTRIES:
        for flavour in FLAVOURS:
            if flavour.name not in entry.not_applicable:
                yield pytest.param(entry, flavour, id=f"{entry.id}-{flavour.name}")


APPLICABLE = list(_applicable())


@pytest.fixture(autouse=True)
def _no_leaks() -> Iterator[None]:
    """As in conftest, with the two libraries' thread pools in mind: AnyIO tells its workers
    to stop when the loop ends but does not join them (so join them here), and Trio's thread
    cache keeps an idle worker for 10 s after its call returns, by design, to reuse it."""
    before = set(threading.enumerate())
    yield
    new = [t for t in threading.enumerate() if t not in before]
    for thread in new:
        if thread.name.startswith("AnyIO worker thread"):
            thread.join(timeout=5)
    left = [t.name for t in new if t.is_alive() and not t.name.startswith("Trio thread")]
    assert left == [], f"threads left running: {left}"


@pytest.mark.parametrize(("entry", "flavour"), APPLICABLE)
def test_probe_outcome_is_pinned(entry: Divergence, flavour: Flavour) -> None:
    check(entry, flavour.name, run_probe(entry, flavour), EXPECTED[entry.id])


def test_every_entry_is_pinned_or_excused_on_every_flavour() -> None:
    assert list(EXPECTED) == [entry.id for entry in ENTRIES]
    for entry in ENTRIES:
        pinned, excused = set(EXPECTED[entry.id]), set(entry.not_applicable)
        assert pinned | excused == set(FLAVOUR_NAMES), entry.id
        assert all(reason.strip() for reason in entry.not_applicable.values()), entry.id
    assert len(APPLICABLE) == sum(len(FLAVOURS) - len(entry.not_applicable) for entry in ENTRIES)


def test_a_changed_outcome_fails_naming_the_entry() -> None:
    entry = by_id("D07")
    pins = {**EXPECTED["D07"], "anyio-trio": ["child ran on"]}
    observed = run_probe(entry, get("anyio-trio"))

    with pytest.raises(AssertionError) as failure:
        check(entry, "anyio-trio", observed, pins)

    assert str(failure.value) == (
        "D07 (the body of a task group raises) on anyio-trio: expected ['child ran on'], "
        "observed ['child cancelled', 'ExceptionGroup(ValueError)']"
    )


def test_entries_are_complete() -> None:
    assert len(ENTRIES) >= 24
    assert [entry.id for entry in ENTRIES] == [f"D{number:02}" for number in range(1, len(ENTRIES) + 1)]
    for entry in ENTRIES:
        assert all((entry.title, entry.what, entry.meaning)), entry.id
        assert entry.sources, entry.id
        assert all(source.startswith("https://") for source in entry.sources), entry.id
        assert set(entry.not_applicable) <= set(FLAVOUR_NAMES), entry.id


def test_the_three_packages_mirror_the_probes() -> None:
    probes = [entry.probe for entry in ENTRIES]
    outlines = []
    for package in parity.IMPL_PACKAGES:
        module = importlib.import_module(f"{package}.divergences")
        assert module.__all__ == probes, package
        outlines.append(parity._outline(Path(module.__file__ or "")))
    assert outlines[0] == outlines[1] == outlines[2]
    assert not parity._imports(Path(shared.__path__[0]) / "divergences.py") & parity.ASYNC_LIBRARIES


def test_a_probe_that_cannot_apply_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    excused = Divergence("D99", "t", "w", "m", ("https://example.org",), "clock_origin", {"trio": "no reason needed"})
    monkeypatch.setattr("triptych.divergences.ENTRIES", (excused,))

    matrix = observe([get("trio")])

    assert matrix["entries"][0]["outcomes"] == {"trio": {"observed": None, "not_applicable": "no reason needed"}}


def test_cli_json_runs_the_probes_now(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["divergences", "--json", "--flavour", "trio"]) == 0

    matrix = json.loads(capsys.readouterr().out)
    assert matrix["python"] == ".".join(map(str, sys.version_info[:3]))
    assert set(matrix["versions"]) == {"trio", "anyio", "uvloop"}
    assert matrix["flavours"] == ["trio"]
    assert [entry["id"] for entry in matrix["entries"]] == [entry.id for entry in ENTRIES]
    first = matrix["entries"][0]
    assert set(first) == {"id", "title", "what", "meaning", "sources", "outcomes"}
    assert first["outcomes"] == {"trio": {"observed": EXPECTED["D01"]["trio"], "not_applicable": None}}


def test_cli_prints_the_matrix(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["divergences", "--flavour", "asyncio", "--flavour", "trio"]) == 0

    out = capsys.readouterr().out
    for text in ("D34", "swallowed cancellation", "cancelled again"):
        assert text in out
