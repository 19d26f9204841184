"""The contract every implementation honours: parameters, results, errors and specs.

One module per workload. The docstrings here are the specification that the behaviour
suite tests; ``impl_asyncio``, ``impl_trio`` and ``impl_anyio`` implement it. Nothing in
this package imports an async library.

Which names are the contract: in each workload module, ``__all__`` lists the contract (what
a caller may use) and ``SUPPORT`` the support code that the three implementations share
(argument checks, ledgers, tallies, ``stop_for``, ``worker_client``). ``errors`` and
``validation`` are support code as a whole. One vocabulary runs through all of it: a
*timeout* (or ``seconds``, ``grace``, ``stagger``) is a number of seconds, a *deadline* an
absolute time on the loop's clock, as in Trio and AnyIO; "no bound" is None
(``validation.require_bound``); a callback told of each job's progress is ``on_event``.
"""

WORKLOADS: tuple[str, ...] = ("fanout", "pipeline", "timeouts", "cancellation", "locks", "offload", "streams")
"""The workload modules every ``impl_*`` package provides, in reading order."""

MIRRORED: tuple[str, ...] = (*WORKLOADS, "primitives")
"""Every module the three packages mirror: the workloads and the benchmark primitives."""
