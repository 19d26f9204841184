"""Contract: the primitives that explain the workloads' costs, for the benchmarks.

Each call does one primitive operation ``n`` times (or on ``n`` tasks) and returns nothing;
the benchmark runner times it inside the running loop. The three implementations are the
shortest idiomatic form of each operation in their library, so a workload's cost can be
read off its primitives: fan-out is spawn + timeout scope + I/O, the pipeline is hand-offs,
and so on.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["HANDOFF_BUFFER", "HANDOFF_CONSUMERS", "Primitives"]

HANDOFF_BUFFER = 64
HANDOFF_CONSUMERS = 4


class Primitives(Protocol):
    """What ``impl_asyncio.primitives``, ``impl_trio.primitives`` and ``impl_anyio.primitives`` provide."""

    async def spawn_join(self, n: int) -> None:
        """Start ``n`` tasks that return at once, in one task group, and wait for all of them."""
        ...

    async def checkpoints(self, n: int) -> None:
        """Yield to the event loop ``n`` times with the library's bare checkpoint."""
        ...

    async def handoff(self, n: int, *, checkpoint: bool) -> None:
        """Pass ``n`` items from one producer to ``HANDOFF_CONSUMERS`` consumers through a
        buffer of ``HANDOFF_BUFFER``, then shut down the idiomatic way.

        With ``checkpoint=True`` every put and every get yields to the loop at least once.
        Trio's and AnyIO's channel operations always do, so only asyncio adds a
        ``sleep(0)``: its ``Queue`` returns without yielding when it can (divergence D11), which
        makes the plain hand-off fast but lets one consumer take every item.
        """
        ...

    async def lock_handoff(self, tasks: int, rounds: int) -> None:
        """``tasks`` tasks each take one shared lock ``rounds`` times, holding it across a
        checkpoint so that the others queue: ``tasks * rounds`` contended hand-offs."""
        ...

    async def timeout_scope(self, n: int) -> None:
        """Enter and leave a timeout scope (60 s, never fires) ``n`` times."""
        ...

    async def cancel_waiting(self, n: int) -> None:
        """Start ``n`` tasks that wait forever, wait until all have started, cancel them all
        with one call where the library has one, and wait until they are gone."""
        ...
