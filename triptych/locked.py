"""What the installed packages are against the lock: the newer, the older and the unlocked.

``python -m triptych.locked locks/constraints.txt`` prints one line per package whose
installed version is not the one the lock pins (for this Python and platform), so that a
run on the newest releases says what changed before it says what broke.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

__all__ = ["differences", "pins"]


def pins(lock: Path) -> dict[str, str]:
    """The version the lock pins for each package that applies here, by canonical name."""
    found: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate():
            (specifier,) = requirement.specifier
            found[canonicalize_name(requirement.name)] = specifier.version
    return found


def differences(lock: Path) -> list[str]:
    """One line per installed package whose version is not the locked one, sorted by name."""
    locked = pins(lock)
    lines = []
    for distribution in metadata.distributions():
        name = canonicalize_name(distribution.metadata["Name"])
        pinned = locked.get(name)
        if name == "triptych" or pinned == distribution.version:
            continue
        lines.append(f"{name} {distribution.version} (locked: {pinned or 'not in the lock'})")
    return sorted(set(lines))


def main(argv: list[str]) -> int:
    (lock,) = argv
    found = differences(Path(lock))
    print("\n".join(found) if found else f"every installed package is as {lock} pins it")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
