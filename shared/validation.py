"""Argument checks shared by every workload, so bad input fails alike on every flavour."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["require_bool", "require_bound", "require_int", "require_items", "require_seconds"]


def require_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a bool (not merely truthy).

    Raises:
      TypeError: "`fail_fast` must be a bool, got 'yes'".
    """
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be a bool, got {value!r}")
    return value


def require_items(name: str, value: object, *, of: str) -> list[Any]:
    """Return the items of ``value`` as a list if it is an iterable other than a string.

    Raises:
      TypeError: "`urls` must be an iterable of URL strings, got None";
        "`urls` must be an iterable of URL strings, not a single string".
    """
    if isinstance(value, str | bytes):
        raise TypeError(f"`{name}` must be an iterable of {of}, not a single string")
    try:
        items = iter(value)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(f"`{name}` must be an iterable of {of}, got {value!r}") from None
    return list(items)


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


def require_bound(name: str, value: object, *, zero: bool) -> float:
    """Return ``value`` as seconds, or ``math.inf`` for None: the one way to say "no bound".

    A bound on time (a timeout, a stagger, a grace period, a longest delay) is a number of
    seconds, or None for no bound at all; ``math.inf`` is accepted as the same thing and is
    what every implementation receives, since all three libraries take an infinite timeout
    and never fire it. ``zero`` says whether 0 is allowed ("at once") or refused.

    Raises:
      TypeError: "`timeout` must be a number of seconds or None, got '1s'".
      ValueError: "`timeout` must be > 0, got 0" (without ``zero``), "`grace` must be >= 0,
        got -1" (with it); NaN is refused either way.
    """
    if value is None:
        return math.inf
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"`{name}` must be a number of seconds or None, got {value!r}")
    if math.isnan(value) or value < 0 or (value == 0 and not zero):
        raise ValueError(f"`{name}` must be {'>=' if zero else '>'} 0, got {value!r}")
    return float(value)
