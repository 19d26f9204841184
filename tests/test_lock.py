"""The lock pins every package the project names, within the bounds pyproject.toml sets."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from triptych.locked import differences, pins

ROOT = Path(__file__).parent.parent
LOCK = ROOT / "locks" / "constraints.txt"


def test_every_requirement_is_locked_within_its_bounds() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    named = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]
    locked = pins(LOCK)
    for line in named:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        if name == "triptych":  # the project's own extras, by name
            continue
        assert name in locked, f"{requirement.name} is not in {LOCK.name}: run `nox -s lock`"
        assert requirement.specifier.contains(locked[name]), f"{name}=={locked[name]} is outside {requirement}"


def test_differences_name_what_is_not_as_locked(tmp_path: Path) -> None:
    lock = tmp_path / "constraints.txt"
    lock.write_text("# a comment\npytest==0.0.1\nuvloop==9.9 ; sys_platform == 'no-such-platform'\n")

    found = differences(lock)

    assert any(line.startswith("pytest ") and line.endswith("(locked: 0.0.1)") for line in found)
    assert not any(line.startswith("uvloop ") and "9.9" in line for line in found)
    assert any(line.startswith("trio ") and line.endswith("(locked: not in the lock)") for line in found)
