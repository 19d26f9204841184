"""Argument checks shared by every workload, so bad input fails alike on every flavour."""

from __future__ import annotations

import math

__all__ = ["require_int", "require_seconds", "require_timeout"]


def require_int(name: str, value: object, *, minimum: int) -> int:
    """Return ``value`` if it is an int (not a bool) of at least ``minimum``.

    Raises:
      TypeError: "`limit` must be an int, got 'ten'".
      ValueError: "`limit` must be >= 1, got 0".
    """
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"`{name}` must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value!r}")
    return value


def require_seconds(name: str, value: object, *, finite: bool = False) -> float:
    """Return ``value`` as seconds if it is a number >= 0 (and not infinite, if ``finite``).

    Raises:
      TypeError: "`hold` must be a number of seconds, got '1s'".
      ValueError: "`hold` must be >= 0, got -1" (also for NaN); "`hold` must be finite, got inf".
    """
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"`{name}` must be a number of seconds, got {value!r}")
    if math.isnan(value) or value < 0:
        raise ValueError(f"`{name}` must be >= 0, got {value!r}")
    if finite and math.isinf(value):
        raise ValueError(f"`{name}` must be finite, got {value!r}")
    return float(value)


def require_timeout(name: str, value: object) -> float | None:
    """Return ``value`` as seconds if it is None or a positive, finite-or-infinite number.

    Raises:
      TypeError: "`timeout` must be a number of seconds or None, got '1s'".
      ValueError: "`timeout` must be > 0, got nan" (for zero, negatives and NaN).
    """
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"`{name}` must be a number of seconds or None, got {value!r}")
    if math.isnan(value) or value <= 0:
        raise ValueError(f"`{name}` must be > 0, got {value!r}")
    return float(value)
