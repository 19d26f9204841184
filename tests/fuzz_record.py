"""A pytest plugin that writes what the fuzz tests ran to a JSON file, for the report page.

``pytest tests/test_fuzz.py -p tests.fuzz_record --fuzz-json=results/fuzz.json`` (as ``nox -s
fuzz`` runs it) records, for every test that is itself a Hypothesis test, the examples
Hypothesis ran in its reuse and generate phases by status (from its own statistics, the ones
``--hypothesis-show-statistics`` prints), and whether pytest passed it; with the profile's
``max_examples``, the Python, Hypothesis's version, the commit and pytest's arguments (a
``-k`` that ran only some of the tests shows there). The format is
:class:`triptych.trust.FuzzFile`'s.
"""

from __future__ import annotations

import json
import platform
from collections import Counter
from collections.abc import Generator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import hypothesis
import pytest
from hypothesis.statistics import collector

from triptych.checkout import commit

PHASES = ("reuse", "generate")
"""The phases whose examples are scenarios run; shrinking replays variants of a failing one."""
STATUSES = {"valid": "passing", "interesting": "failing", "invalid": "invalid", "overrun": "invalid"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fuzz-json", metavar="PATH", help="write the Hypothesis tests' examples and outcomes here")


def _now() -> str:
    return f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}"


class _Recorder:
    def __init__(self, path: Path, arguments: str) -> None:
        self.path = path
        self.arguments = arguments
        self.started = _now()
        self.examples: dict[str, Counter[str]] = {}
        self.outcomes: dict[str, str] = {}

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            if hypothesis.is_hypothesis_test(getattr(item, "obj", None)):
                self.examples[item.nodeid] = Counter(dict.fromkeys(STATUSES.values(), 0))

    def note(self, nodeid: str, statistics: Mapping[str, Any]) -> None:
        for phase in PHASES:
            for case in statistics.get(f"{phase}-phase", {}).get("test-cases", []):
                self.examples[nodeid][STATUSES[case["status"]]] += 1

    # Innermost: Hypothesis's own plugin sets the statistics collector around each test, and
    # this one chains to it, so --hypothesis-show-statistics still prints.
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        if item.nodeid not in self.examples:
            return (yield)
        outer = collector.value

        def note(statistics: Mapping[str, Any]) -> None:
            self.note(item.nodeid, statistics)
            if outer is not None:
                outer(statistics)

        # Hypothesis types its collector as holding None only.
        with collector.with_value(cast("Any", note)):
            return (yield)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # The call's outcome, or "failed" when its set-up or tear-down failed.
        failed_before = self.outcomes.get(report.nodeid) == "failed"
        if report.nodeid in self.examples and (report.when == "call" or report.failed) and not failed_before:
            self.outcomes[report.nodeid] = report.outcome

    def pytest_sessionfinish(self) -> None:
        profile = hypothesis.settings.get_current_profile_name()
        data = {
            "profile": profile,
            "max_examples": hypothesis.settings.get_profile(profile).max_examples,
            "python": platform.python_version(),
            "hypothesis": hypothesis.__version__,
            "started": self.started,
            "finished": _now(),
            "commit": commit(),
            "arguments": self.arguments,
            "tests": [
                {"test": nodeid, "outcome": self.outcomes.get(nodeid, "not run"), "examples": dict(counted)}
                for nodeid, counted in self.examples.items()
            ],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def pytest_configure(config: pytest.Config) -> None:
    if path := config.getoption("fuzz_json"):
        arguments = " ".join(config.invocation_params.args)
        config.pluginmanager.register(_Recorder(Path(path), arguments), "fuzz-json-recorder")
