"""The benchmarks as data: named, parametrised operations, and the profiles that choose them.

Variants (names and titles are built from the parameters; every parameter is recorded in
the results):

- primitives: ``spawn_join``, ``checkpoints``, ``handoff``, ``handoff+checkpoint``,
  ``lock_handoff``, ``timeout_scope``, ``cancel_waiting`` (``impl_*/primitives.py``);
- workloads, at a standard size, through the real ``impl_*`` modules: ``fanout``,
  ``pipeline``, ``timeouts``, ``cancellation``, ``locks``, ``offload`` (one at a time and
  eight at a time), ``streams`` (100 B and 64 KiB messages);
- scale, in the full profile: ``spawn_join`` and ``pipeline`` at N = 10^2 ... 10^5, ``fanout``
  at 10^2 ... 10^4 requests, ``timeouts``, ``cancellation``, ``locks`` and ``offload-parallel``
  at 10^3 and 10^5, ``streams`` at 2000 and 10^4 messages;
- references, a kind of benchmark that times a ceiling or one layer of the fan-out rather
  than the flavour's code; each names the benchmark it is a reference for. For ``fanout``,
  each swaps one piece of the workload's I/O layer: ``httpx-serial`` (one request in flight:
  httpx's own ceiling), ``httpx-shared`` and ``httpx2-shared`` (one client's pool for all
  100 in flight, httpcore's and its fixed fork's, instead of one pool per worker), on every
  flavour's loop; ``httpx-aiohttp`` (httpx's client over aiohttp's pool and parser instead
  of httpcore and AnyIO's streams) and ``aiohttp`` (no httpx at all), on the asyncio loops.
"""

from __future__ import annotations

import functools
import importlib
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from shared.primitives import HANDOFF_BUFFER, HANDOFF_CONSUMERS

if TYPE_CHECKING:
    from triptych.flavours import Flavour

__all__ = ["BENCHMARKS", "PROFILES", "Benchmark", "Kind", "Profile"]

Kind = Literal["primitive", "workload", "reference"]
Op = Callable[[], Awaitable[Any]]
Make = Callable[["Flavour", str, Mapping[str, Any]], Op]
"""``(flavour, server_url, params) -> op``; the op is awaited inside the flavour's loop."""


@dataclass(frozen=True)
class Benchmark:
    """One timed operation; each call of its op does ``n`` units."""

    group: str
    """The benchmark's family; one group measured at several ``n`` is a scale series."""
    kind: Kind
    unit: str
    title_template: str
    """Formatted with :attr:`params` to give :attr:`title`."""
    make: Make
    params: Mapping[str, Any]
    """Every parameter, ``n`` included."""
    needs_server: bool = False
    flavours: tuple[str, ...] | None = None
    """The flavours it runs on; None: every flavour."""
    reference_for: str = ""
    """For a reference: the group whose table it belongs in."""
    needs: tuple[str, ...] = ()
    """Packages it needs in the worker beyond the flavour's own libraries and httpx."""

    @property
    def n(self) -> int:
        return int(self.params["n"])

    @property
    def name(self) -> str:
        return f"{self.group}[n={self.n}]"

    @property
    def title(self) -> str:
        return self.title_template.format(**self.params)

    @property
    def cpu_timed(self) -> bool:
        """Timed in the worker's CPU time rather than wall time: the primitives. A primitive
        never waits for a socket, a thread or a timer, so its CPU time is all it costs, and CPU
        time leaves out the moments the host gave the worker's CPU to something else. The
        workloads and references wait on I/O or threads by design: their cost is wall time."""
        return self.kind == "primitive"

    def runs_on(self, flavour: str) -> bool:
        return self.flavours is None or flavour in self.flavours

    def prepare(self, flavour: Flavour, server_url: str) -> Op:
        return self.make(flavour, server_url, self.params)


@dataclass(frozen=True)
class Profile:
    """How much to measure: rounds, each with a fresh worker per flavour; in each, per
    benchmark, ``warmups`` untimed values (the first, one call, calibrates) and ``values``
    timed ones. A benchmark takes part in at least ``min_rounds`` and at most ``max_rounds``
    rounds, until its ratios to asyncio are known within ``target`` (the 95 % interval's
    furthest end, as a share of the ratio) or its share of ``budget`` seconds is spent."""

    name: str
    min_rounds: int
    max_rounds: int
    warmups: int
    values: int
    budget: float
    target: float
    benchmarks: tuple[str, ...]


# --- Primitives ----------------------------------------------------------------------------


def _primitive(call: str, **arguments: str | bool) -> Make:
    """A call of ``impl_*/primitives.py``; a str argument names the parameter it takes its value from."""

    def make(flavour: Flavour, server_url: str, params: Mapping[str, Any]) -> Op:
        function = getattr(flavour.workload("primitives"), call)
        kwargs = {key: params[value] if isinstance(value, str) else value for key, value in arguments.items()}
        return lambda: function(**kwargs)

    return make


def _lock_handoff(flavour: Flavour, server_url: str, params: Mapping[str, Any]) -> Op:
    primitives = flavour.workload("primitives")
    return lambda: primitives.lock_handoff(tasks=params["tasks"], rounds=params["n"] // params["tasks"])


# --- Workloads -----------------------------------------------------------------------------


def _fanout(flavour: Flavour, server_url: str, params: Mapping[str, Any]) -> Op:
    fanout = flavour.workload("fanout")
    urls = [f"{server_url}/bytes/{params['body']}"] * params["n"]

    async def op() -> None:
        results = await fanout.fetch_all(urls, limit=params["limit"])
        if not all(result.ok for result in results):
            raise RuntimeError("a benchmark request failed")

    return op


def _pipeline(flavour: Flavour, server_url: str, params: Mapping[str, Any]) -> Op:
    pipeline = flavour.workload("pipeline")

    async def handle(item: int) -> None:
        pass

    shape = {key: params[key] for key in ("producers", "consumers", "buffer")}
    return lambda: pipeline.run_pipeline(range(params["n"]), handler=handle, **shape)


def _timeouts(flavour: Flavour, server_url: str, params: Mapping[str, Any]) -> Op:
    from shared.timeouts import TimedJob

    timeouts = flavour.workload("timeouts")
    jobs = [TimedJob(f"job-{i}", 0.0) for i in range(params["n"])]
    limits = {key: params[key] for key in ("limit", "job_timeout", "batch_timeout")}
    return lambda: timeouts.run_jobs(jobs, **limits)


def _cancellation(flavour: Flavour, server_url: str, params: Mapping[str, Any]) -> Op:
    from shared.cancellation import Job, JobFailed

    cancellation = flavour.workload("cancellation")
    n = params["n"]
    jobs = [Job(f"job-{i}", 60.0) for i in range(n - 1)] + [Job("fails", 0.0, error=RuntimeError)]

    async def op() -> None:
        try:
            await cancellation.run_all_or_nothing(jobs)
        except JobFailed:
            return
        raise RuntimeError("the failing job did not fail")

    return op


def _locks(flavour: Flavour, server_url: str, params: Mapping[str, Any]) -> Op:
    from shared.locks import Transfer

    locks = flavour.workload("locks")
    accounts = params["accounts"]
    transfers = [Transfer(i % accounts, (i * 7 + 3) % accounts, 1) for i in range(params["n"])]
    return lambda: locks.run_transfers([1000] * accounts, transfers, locked=True)


def _return_at_once(item: int) -> int:
    return item


def _offload(flavour: Flavour, server_url: str, params: Mapping[str, Any]) -> Op:
    offload = flavour.workload("offload")
    return lambda: offload.run_in_threads(_return_at_once, range(params["n"]), limit=params["limit"])


# The other side of every streams connection is the same program for every flavour: a
# blocking-socket echo server in a process of its own, on the CPUs the worker is not pinned
# to, a thread per connection. So the figure is the flavour's client alone: framing, writes,
# reads, its per-echo timeout scope. ``window`` messages are in flight, so the client's CPU
# is the limit; one at a time, two cross-process wake-ups per message would be (what
# uvloop's echo benchmark avoids by running three clients). The peer exits with the worker.
_ECHO_PEER = """
import socket, sys, threading
def serve(conn):
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while data := conn.recv(1 << 20):
            conn.sendall(data)
def accept(listener):
    while True:
        threading.Thread(target=serve, args=(listener.accept()[0],), daemon=True).start()
listener = socket.create_server(("127.0.0.1", 0))
print(listener.getsockname()[1], flush=True)
threading.Thread(target=accept, args=(listener,), daemon=True).start()
sys.stdin.read()
"""


@functools.cache
def _echo_peer_port() -> int:
    """Start the echo peer (once per worker); return the port it listens on."""
    peer = subprocess.Popen(
        [sys.executable, "-c", _ECHO_PEER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    if hasattr(os, "sched_getaffinity") and (others := set(range(os.cpu_count() or 1)) - os.sched_getaffinity(0)):
        os.sched_setaffinity(peer.pid, others)
    assert peer.stdout is not None
    return int(peer.stdout.readline())


def _streams(flavour: Flavour, server_url: str, params: Mapping[str, Any]) -> Op:
    streams = flavour.workload("streams")
    port = _echo_peer_port()
    messages = [b"x" * params["size"]] * params["n"]

    async def op() -> None:
        echoes = await streams.echo(port, messages, window=params["window"])
        if echoes != messages:
            raise RuntimeError("an echo came back wrong")

    return op


# --- References ----------------------------------------------------------------------------
#
# The fan-out's I/O layer, one piece at a time. The workload runs ``limit`` workers, each with
# its own one-connection httpx client; httpx talks HTTP/1.1 through httpcore (its pool, and
# h11 to parse), and httpcore reaches the network through AnyIO's streams on an asyncio loop
# and through Trio's own sockets on Trio. Each reference swaps one of those pieces.


async def _in_flight(limit: int, n: int, request: Callable[[], Awaitable[None]], *, asyncio_only: bool = False) -> None:
    """``n`` requests, ``limit`` workers each taking the next until none is left.

    In an AnyIO task group, the library httpx itself runs on, so it runs on every flavour's
    loop; for the clients that run on asyncio loops only (``asyncio_only``), in an asyncio
    ``TaskGroup``, whose spawn costs a fifth of AnyIO's: at aiohttp's rate, AnyIO's would
    be a few per cent of the figure.
    """
    jobs = iter(range(n))

    async def worker() -> None:
        for _ in jobs:
            await request()

    if asyncio_only:
        import asyncio

        async with asyncio.TaskGroup() as group:
            for _ in range(limit):
                group.create_task(worker())
        return
    import anyio

    async with anyio.create_task_group() as tasks:
        for _ in range(limit):
            tasks.start_soon(worker)


@functools.cache
def _client_options(package: str) -> dict[str, Any]:
    """The options every httpx client here is made with, as the fan-out workload makes its
    own: no httpx timeout, and one verifying SSL context per worker process (building one
    loads the CA bundle, about 20 ms: a fifth of a quick ``httpx-serial`` call)."""
    return {"timeout": None, "verify": importlib.import_module(package).create_ssl_context()}


def _httpx_serial(flavour: Flavour, server_url: str, params: Mapping[str, Any]) -> Op:
    import httpx

    url = f"{server_url}/bytes/{params['body']}"
    options = _client_options("httpx")

    async def op() -> None:
        async with httpx.AsyncClient(**options) as client:
            for _ in range(params["n"]):
                (await client.get(url)).raise_for_status()

    return op


def _shared_client(package: str) -> Make:
    """One ``AsyncClient`` of ``package`` (``httpx`` or its fork ``httpx2``) with its default
    pool (100 connections, 20 kept alive), shared by ``limit`` workers: the workload's
    clients but for the pool, which is one here and ``limit`` one-connection pools there."""

    def make(flavour: Flavour, server_url: str, params: Mapping[str, Any]) -> Op:
        client_module = importlib.import_module(package)
        url = f"{server_url}/bytes/{params['body']}"
        options = _client_options(package)

        async def op() -> None:
            async with client_module.AsyncClient(**options) as client:

                async def request() -> None:
                    (await client.get(url)).raise_for_status()

                await _in_flight(params["limit"], params["n"], request)

        return op

    return make


def _httpx_aiohttp(flavour: Flavour, server_url: str, params: Mapping[str, Any]) -> Op:
    import httpx
    from httpx_aiohttp import AiohttpTransport

    url = f"{server_url}/bytes/{params['body']}"
    options = _client_options("httpx")

    async def op() -> None:
        # httpx's client (request and response models, headers, the API) with httpcore
        # replaced by aiohttp's connector: its pool of ``limit`` connections and its parser.
        transport = AiohttpTransport(verify=options["verify"], limits=httpx.Limits(max_connections=params["limit"]))
        async with httpx.AsyncClient(transport=transport, **options) as client:

            async def request() -> None:
                (await client.get(url)).raise_for_status()

            await _in_flight(params["limit"], params["n"], request, asyncio_only=True)

    return op


def _aiohttp(flavour: Flavour, server_url: str, params: Mapping[str, Any]) -> Op:
    import aiohttp

    url = f"{server_url}/bytes/{params['body']}"

    async def op() -> None:
        connector = aiohttp.TCPConnector(limit=params["limit"])
        async with aiohttp.ClientSession(connector=connector) as session:

            async def request() -> None:
                async with session.get(url) as response:
                    await response.read()
                    response.raise_for_status()

            await _in_flight(params["limit"], params["n"], request, asyncio_only=True)

    return op


# --- The registry --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Series:
    """One benchmark group at the sizes each profile measures it at."""

    group: str
    kind: Kind
    unit: str
    title: str
    make: Make
    full: tuple[int, ...]
    quick: tuple[int, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    needs_server: bool = False
    flavours: tuple[str, ...] | None = None
    reference_for: str = ""
    needs: tuple[str, ...] = ()

    def build(self, n: int) -> Benchmark:
        params = {"n": n, **self.params}
        return Benchmark(
            self.group, self.kind, self.unit, self.title, self.make, params, self.needs_server, self.flavours,
            self.reference_for, self.needs,
        )  # fmt: skip


FANOUT = {"limit": 100, "body": 64}
HANDOFF = {"producers": 1, "consumers": HANDOFF_CONSUMERS, "buffer": HANDOFF_BUFFER}
# The full profile measures spawn at 10^4 and 10^5, the hand-off from 1 producer to 4
# consumers through 64, and fan-out at 2000 GETs with 100 in flight, with the references at
# the same size; the lock hand-off takes 50 rounds per task, to fit the time budget, so the
# start of its 100 tasks is in it (3-4 % of each flavour's time against 1000 rounds). The quick
# profile takes the shared clients at 200 requests (100 of them queued at the start, so the
# pool's bookkeeping shows): at 500 their 1-2 ms a request would take a fifth of its budget.
_SERIES = (
    _Series("spawn_join", "primitive", "task", "Spawn and join N tasks", _primitive("spawn_join", n="n"),
            (100, 1000, 10_000, 100_000), (1000, 10_000)),
    _Series("checkpoints", "primitive", "checkpoint", "A bare checkpoint", _primitive("checkpoints", n="n"),
            (10_000,), (5_000,)),
    _Series("handoff", "primitive", "item",
            "Queue/channel hand-off, {producers} producer to {consumers} consumers, buffer {buffer}",
            _primitive("handoff", n="n", checkpoint=False), (10_000,), (5_000,), HANDOFF),
    _Series("handoff+checkpoint", "primitive", "item",
            "The same hand-off with a checkpoint on every put and get",
            _primitive("handoff", n="n", checkpoint=True), (10_000,), (5_000,), HANDOFF),
    _Series("lock_handoff", "primitive", "acquisition",
            "Lock hand-off under contention, {tasks} tasks (their start and join included)",
            _lock_handoff, (5_000,), (5_000,), {"tasks": 100}),
    _Series("timeout_scope", "primitive", "scope", "A timeout scope that never fires",
            _primitive("timeout_scope", n="n"), (10_000,), (5_000,)),
    _Series("cancel_waiting", "primitive", "task", "Spawn N waiting tasks, cancel them all, join",
            _primitive("cancel_waiting", n="n"), (1_000,), (1_000,)),
    _Series("fanout", "workload", "request", "HTTP fan-out with httpx, {limit} in flight", _fanout,
            (100, 1000, 2000, 10_000), (500,), FANOUT, needs_server=True),
    _Series("httpx-serial", "reference", "request", "httpx, {limit} in flight", _httpx_serial,
            (500,), (200,), {**FANOUT, "limit": 1}, needs_server=True, reference_for="fanout"),
    _Series("httpx-shared", "reference", "request", "one shared httpx client (httpcore's pool), {limit} in flight",
            _shared_client("httpx"), (2000,), (200,), FANOUT, needs_server=True, reference_for="fanout"),
    _Series("httpx2-shared", "reference", "request", "one shared httpx2 client (httpcore2's pool), {limit} in flight",
            _shared_client("httpx2"), (2000,), (200,), FANOUT, needs_server=True, reference_for="fanout",
            needs=("httpx2",)),
    _Series("httpx-aiohttp", "reference", "request", "httpx on aiohttp's connector (httpx-aiohttp), {limit} in flight",
            _httpx_aiohttp, (2000,), (500,), FANOUT, needs_server=True, flavours=("asyncio", "asyncio+uvloop"),
            reference_for="fanout", needs=("httpx-aiohttp",)),
    _Series("aiohttp", "reference", "request", "aiohttp, {limit} in flight", _aiohttp,
            (2000,), (500,), FANOUT, needs_server=True, flavours=("asyncio", "asyncio+uvloop"),
            reference_for="fanout", needs=("aiohttp",)),
    _Series("pipeline", "workload", "item",
            "Producer/consumer pipeline, {producers} producer, {consumers} consumers, buffer {buffer}",
            _pipeline, (100, 1000, 10_000, 100_000), (1000, 10_000), HANDOFF),
    _Series("timeouts", "workload", "job",
            "Jobs under a per-job timeout and a batch timeout, {limit} at a time, shielded cleanup", _timeouts,
            (1000, 100_000), (1000,), {"limit": 100, "job_timeout": 60, "batch_timeout": 600}),
    _Series("cancellation", "workload", "job",
            "All-or-nothing: one job fails, the others are cancelled and cleaned up", _cancellation,
            (1000, 100_000), (1000,)),
    _Series("locks", "workload", "transfer", "Transfers under per-account locks, {accounts} accounts", _locks,
            (1000, 100_000), (1000,), {"accounts": 10}),
    # limit 1 is the sequential round trip: each call waits in the loop for the token the
    # one before it hands back.
    _Series("offload", "workload", "call", "Calls in worker threads that return at once, {limit} at a time",
            _offload, (2000,), (1000,), {"limit": 1}),
    _Series("offload-parallel", "workload", "call",
            "Calls in worker threads that return at once, {limit} at a time", _offload, (2000, 100_000), (1000,),
            {"limit": 8}),
    _Series("streams", "workload", "message", "TCP echo of {size} B messages, {window} in flight", _streams,
            (2000, 10_000), (1000,), {"size": 100, "window": 16}),
    _Series("streams-64KiB", "workload", "message", "TCP echo of {size} B messages, {window} in flight", _streams,
            (200,), (100,), {"size": 65536, "window": 16}),
)  # fmt: skip


def _profile_benchmarks(profile: Literal["full", "quick"]) -> list[Benchmark]:
    return [series.build(n) for series in _SERIES for n in getattr(series, profile)]


BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in _profile_benchmarks("full") + _profile_benchmarks("quick")}

# The quick profile measures for at most 160 s, so that with the workers' start and the
# files' writing it ends within 3 minutes on any host.
PROFILES: dict[str, Profile] = {
    "quick": Profile(
        "quick", min_rounds=3, max_rounds=40, warmups=1, values=2, budget=160, target=0.025,
        benchmarks=tuple(b.name for b in _profile_benchmarks("quick")),
    ),
    "full": Profile(
        "full", min_rounds=6, max_rounds=40, warmups=2, values=5, budget=3600, target=0.025,
        benchmarks=tuple(b.name for b in _profile_benchmarks("full")),
    ),
}  # fmt: skip
