"""The stand-in for a shielded cancel scope, which asyncio lacks: private to impl_asyncio.

Used by ``timeouts`` and ``cancellation`` where Trio and AnyIO shield a cleanup; declared as a
package-private module, with its reason, in ``triptych/mirror.toml``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

__all__ = ["shielded"]


async def shielded(cleanup: Coroutine[Any, Any, None]) -> None:
    """Run ``cleanup`` to its end even if this task is cancelled meanwhile; then let the cancel through.

    Trio and AnyIO write ``with CancelScope(shield=True): await cleanup()``; ``timeouts`` and
    ``cancellation`` call ``shielded`` at the same place. ``asyncio.shield()`` alone is not a
    shielded scope: at the first cancel its waiter gets CancelledError at once while the
    shielded work runs on, owned by nobody (divergence D05), so the call could return, or the
    caller's cancel complete, with a cleanup still running. Here the cleanup gets a task of
    its own, and this task waits for it through every cancel and re-raises the first
    cancellation once the cleanup is done. asyncio's cancellation is edge-triggered, so the
    waits after a CancelledError run on unless someone cancels again. If the cleanup itself
    failed, its error goes out instead of the cancel, as it does out of a shielded scope.
    """
    task = asyncio.create_task(cleanup)
    cancelled: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError as exc:
            cancelled = exc
    if cancelled is not None and task.exception() is None:
        raise cancelled
    task.result()
