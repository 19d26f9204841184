"""The workloads in raw asyncio: TaskGroup, asyncio.timeout, Queue, Lock, Semaphore, Event."""
