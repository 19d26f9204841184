"""Exception plumbing shared by every workload (no async library involved)."""

from __future__ import annotations

__all__ = ["lone_exception"]


def lone_exception(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """Return the single leaf of ``group`` (however deeply nested), or ``group`` itself.

    Task groups wrap even one error in an ``ExceptionGroup``; the contracts promise the
    error itself, so each implementation re-raises what this returns.
    """
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending and len(leaves) < 2:
        exc = pending.pop()
        if isinstance(exc, BaseExceptionGroup):
            pending.extend(exc.exceptions)
        else:
            leaves.append(exc)
    return leaves[0] if len(leaves) == 1 and not pending else group
