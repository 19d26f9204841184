"""The workloads in AnyIO, one source for asyncio, uvloop and Trio: task groups, cancel scopes,
memory object streams, Lock, CapacityLimiter."""
