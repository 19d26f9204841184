"""The contract every implementation honours: parameters, results, errors and specs.

One module per workload. The docstrings here are the specification that the behaviour
suite tests; ``impl_asyncio``, ``impl_trio`` and ``impl_anyio`` implement it. Nothing in
this package imports an async library.
"""

WORKLOADS: tuple[str, ...] = ("fanout", "pipeline", "timeouts", "cancellation", "locks", "offload", "streams")
"""The workload modules every ``impl_*`` package provides, in reading order."""

MIRRORED: tuple[str, ...] = (*WORKLOADS, "primitives")
"""Every module the three packages mirror: the workloads and the benchmark primitives."""
