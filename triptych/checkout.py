"""Which commit of triptych is running: recorded with the files a run writes (stdlib only)."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["commit"]

ROOT = Path(__file__).parent.parent


def commit() -> str:
    """The checkout's commit, short, or why there is none."""
    try:
        done = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return done.stdout.strip()
