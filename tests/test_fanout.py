"""Fan-out behaviour (contract: shared.fanout.Fanout) on every flavour, against the loopback server.

No assertion here depends on how fast the machine is: concurrency is proven with the
server's counters and its /hold endpoint, timeouts only ever race requests that can
never finish, and the one completion-order check has a full second of margin.
"""

from __future__ import annotations

import math
import re
import threading
from typing import Any

import httpx
import pytest

from shared.fanout import ErrorKind, Fanout, FanoutError, FetchResult
from tests.helpers import Run, threads_left
from triptych.flavours import Flavour
from triptych.server import DROP_SENT, LoopbackServer


async def _collect(fanout: Fanout, urls: list[str], **kwargs: Any) -> list[FetchResult]:
    async with fanout.fetch_as_completed(urls, **kwargs) as results:
        return [result async for result in results]


@pytest.mark.clause("fanout.order")
def test_results_come_back_in_input_order(fanout: Fanout, run: Run, server: LoopbackServer) -> None:
    # Later URLs answer sooner, so completion order is roughly the reverse of input order.
    urls = [f"{server.url}/bytes/{size}?delay={(20 - size) * 5}" for size in range(20)]

    results = run(fanout.fetch_all, urls, limit=20)

    assert [r.index for r in results] == list(range(20))
    assert [r.url for r in results] == urls
    assert [r.size for r in results] == list(range(20))
    assert {r.status for r in results} == {200}
    assert all(r.ok and r.error is None and r.detail == "" for r in results)


@pytest.mark.parametrize(("count", "limit"), [(30, 5), (3, 10)])
@pytest.mark.clause("fanout.limit")
def test_limit_is_reached_and_never_exceeded(
    fanout: Fanout, run: Run, server: LoopbackServer, count: int, limit: int
) -> None:
    peak = min(count, limit)
    # /hold/<peak> answers only once `peak` requests are in flight together: every request
    # succeeding proves `peak` was reached; the server's own maximum proves no more were.
    urls = [f"{server.url}/hold/{peak}?timeout=20000"] * count

    results = run(fanout.fetch_all, urls, limit=limit)

    assert [r.status for r in results] == [200] * count
    stats = server.stats()
    assert stats.max_in_flight == peak
    assert stats.served == count


@pytest.mark.clause("fanout.failures")
def test_failures_are_recorded_and_the_rest_go_on(
    fanout: Fanout, run: Run, server: LoopbackServer, refused_url: str
) -> None:
    urls = [
        f"{server.url}/bytes/10",
        f"{server.url}/status/503",
        f"{server.url}/drop",
        refused_url,
        f"{server.url}/status/404",
        f"{server.url}/bytes/20",
    ]

    results = run(fanout.fetch_all, urls, limit=2)

    assert [(r.status, r.error) for r in results] == [
        (200, None),
        (503, ErrorKind.STATUS),
        (None, ErrorKind.PROTOCOL),
        (None, ErrorKind.CONNECT),
        (404, ErrorKind.STATUS),
        (200, None),
    ]
    assert [r.size for r in results] == [10, len(b"status 503"), 0, 0, len(b"status 404"), 20]
    assert f"received {DROP_SENT} bytes" in results[2].detail
    assert all(r.detail for r in results if not r.ok)


@pytest.mark.clause("fanout.timeout")
def test_timeout_is_recorded_for_its_url(fanout: Fanout, run: Run, server: LoopbackServer) -> None:
    # Neither request can ever finish, so the outcome does not depend on the machine's speed.
    # The trickle sends a byte a second: httpx's per-read timeout would never fire on it.
    urls = [f"{server.url}/hang", f"{server.url}/trickle/1000?interval=1000"]

    results = run(fanout.fetch_all, urls, limit=2, timeout=0.2)

    assert [(r.status, r.error, r.detail) for r in results] == [
        (None, ErrorKind.TIMEOUT, "the request ran past `timeout`"),
        (None, ErrorKind.TIMEOUT, "the request ran past `timeout`"),
    ]


@pytest.mark.clause("fanout.timeout")
def test_generous_timeout_leaves_fast_requests_alone(fanout: Fanout, run: Run, server: LoopbackServer) -> None:
    results = run(fanout.fetch_all, [f"{server.url}/bytes/7"] * 3, limit=3, timeout=30)

    assert [(r.status, r.size, r.error) for r in results] == [(200, 7, None)] * 3


@pytest.mark.clause("fanout.fail_fast")
def test_fail_fast_cancels_the_rest_and_raises_one_shared_error(
    fanout: Fanout, run: Run, server: LoopbackServer
) -> None:
    failing = f"{server.url}/hold/4?status=500"
    # The failure is answered only once the three hanging requests are in flight with it.
    urls = [f"{server.url}/hang"] * 3 + [failing]

    with pytest.raises(FanoutError) as caught:
        run(fanout.fetch_all, urls, limit=4, fail_fast=True)

    error = caught.value
    assert type(error) is FanoutError
    assert error.url == failing
    assert error.result == FetchResult(3, failing, 500, 4, ErrorKind.STATUS, error.result.detail)
    assert isinstance(error.__cause__, httpx.HTTPStatusError)
    assert failing in str(error)
    stats = server.wait_idle()
    assert (stats.max_in_flight, stats.in_flight, stats.open_connections) == (4, 0, 0)


@pytest.mark.clause("fanout.fail_fast", "fanout.timeout")
def test_fail_fast_on_timeout_raises_the_shared_error(fanout: Fanout, run: Run, server: LoopbackServer) -> None:
    urls = [f"{server.url}/hang", f"{server.url}/hang"]

    with pytest.raises(FanoutError) as caught:
        run(fanout.fetch_all, urls, limit=2, timeout=0.2, fail_fast=True)

    assert caught.value.result.error is ErrorKind.TIMEOUT
    assert caught.value.url in urls
    # The cause is the library's own timeout; the caller never has to catch it.
    assert caught.value.__cause__ is not None


@pytest.mark.clause("fanout.client")
def test_a_callers_client_is_used_and_left_open(fanout: Fanout, run: Run, server: LoopbackServer) -> None:
    urls = [f"{server.url}/bytes/{n}" for n in range(1, 6)]
    seen: list[str] = []

    async def scenario() -> tuple[list[FetchResult], bool]:
        async def record(request: httpx.Request) -> None:
            seen.append(str(request.url))

        async with httpx.AsyncClient(event_hooks={"request": [record]}) as client:
            results = await fanout.fetch_all(urls, limit=2, client=client)
            return results, client.is_closed

    results, closed_by_call = run(scenario)

    assert [r.size for r in results] == [1, 2, 3, 4, 5]
    assert sorted(seen) == sorted(urls)
    assert closed_by_call is False


@pytest.mark.clause("fanout.left_running")
def test_a_host_name_leaves_no_thread_of_the_call_running(fanout: Fanout, run: Run, server: LoopbackServer) -> None:
    # `localhost` is resolved in a worker thread; 127.0.0.1 would need none.
    url = server.url.replace("127.0.0.1", "localhost")
    before = set(threading.enumerate())

    results = run(fanout.fetch_all, [f"{url}/bytes/{size}" for size in range(4)], limit=2)

    assert [(r.status, r.size) for r in results] == [(200, size) for size in range(4)]
    assert threads_left(before) == []


@pytest.mark.clause("fanout.empty", "fanout.as_completed")
def test_no_urls_give_no_results(fanout: Fanout, run: Run) -> None:
    assert run(fanout.fetch_all, [], limit=3) == []
    assert run(_collect, fanout, [], limit=3) == []


BAD_INPUT = [
    ({"limit": 0}, ValueError, "`limit` must be >= 1, got 0"),
    ({"limit": -3}, ValueError, "`limit` must be >= 1, got -3"),
    ({"limit": 2.5}, TypeError, "`limit` must be an int, got 2.5"),
    ({"limit": True}, TypeError, "`limit` must be an int, got True"),
    ({"limit": 2, "timeout": 0}, ValueError, "`timeout` must be > 0, got 0"),
    ({"limit": 2, "timeout": -1.0}, ValueError, "`timeout` must be > 0, got -1.0"),
    ({"limit": 2, "timeout": math.nan}, ValueError, "`timeout` must be > 0, got nan"),
    ({"limit": 2, "timeout": "1s"}, TypeError, "`timeout` must be a number of seconds or None, got '1s'"),
    (
        {"limit": 2, "urls": ["ftp://example.org/x"]},
        ValueError,
        "`urls[0]` is not an http(s) URL: 'ftp://example.org/x'",
    ),
    (
        {"limit": 2, "urls": ["http://ok.test/", "example.org"]},
        ValueError,
        "`urls[1]` is not an http(s) URL: 'example.org'",
    ),
    (
        {"limit": 2, "urls": "http://ok.test/"},
        TypeError,
        "`urls` must be an iterable of URL strings, not a single string",
    ),
    ({"limit": 2, "urls": None}, TypeError, "`urls` must be an iterable of URL strings, got None"),
    ({"limit": 2, "urls": [3]}, TypeError, "`urls[0]` must be a str, got 3"),
    ({"limit": 2, "urls": [b"http://ok.test/"]}, TypeError, "`urls[0]` must be a str, got b'http://ok.test/'"),
    (
        {"limit": 2, "urls": ["http://127.0.0.1:abc/"]},
        ValueError,
        "`urls[0]` is not a valid URL: 'http://127.0.0.1:abc/' (Invalid port: 'abc')",
    ),
    (
        {"limit": 2, "urls": ["http://127.0.0.1/a\x01b"]},
        ValueError,
        "`urls[0]` is not a valid URL: 'http://127.0.0.1/a\\x01b' "
        "(Invalid non-printable ASCII character in URL, '\\x01' at position 18.)",
    ),
    (
        {"limit": 2, "urls": ["http://[::1"]},
        ValueError,
        "`urls[0]` is not a valid URL: 'http://[::1' (Invalid port: ':1')",
    ),
    (
        {"limit": 2, "urls": ["http://127.0.0.1:99999/"]},
        ValueError,
        "`urls[0]` has a port out of range 1-65535: 'http://127.0.0.1:99999/'",
    ),
    (
        {"limit": 2, "urls": ["http://127.0.0.1:0/"]},
        ValueError,
        "`urls[0]` has a port out of range 1-65535: 'http://127.0.0.1:0/'",
    ),
    (
        {"limit": 2, "urls": ["http://127.0.0.1:-1/"]},
        ValueError,
        "`urls[0]` has a port out of range 1-65535: 'http://127.0.0.1:-1/'",
    ),
    ({"limit": 2, "urls": ["http://:80/"]}, ValueError, "`urls[0]` is not an http(s) URL: 'http://:80/'"),
    ({"limit": 2, "fail_fast": "yes"}, TypeError, "`fail_fast` must be a bool, got 'yes'"),
    ({"limit": 2, "fail_fast": 1}, TypeError, "`fail_fast` must be a bool, got 1"),
    (
        {"limit": 2, "client": "not a client"},
        TypeError,
        "`client` must be an httpx.AsyncClient or None, got 'not a client'",
    ),
]


@pytest.mark.parametrize("form", ["fetch_all", "fetch_as_completed"])
@pytest.mark.parametrize(("kwargs", "error", "message"), BAD_INPUT, ids=[m for _, _, m in BAD_INPUT])
@pytest.mark.clause("fanout.args")
def test_bad_input_fails_alike_everywhere(
    fanout: Fanout, run: Run, form: str, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    kwargs = {"urls": ["http://127.0.0.1:9/"], **kwargs}
    call = fanout.fetch_all if form == "fetch_all" else (lambda **kw: _collect(fanout, **kw))

    async def scenario() -> None:
        await call(**kwargs)

    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        run(scenario)


@pytest.mark.parametrize("form", ["fetch_all", "fetch_as_completed"])
@pytest.mark.parametrize(
    "bad", ["http://127.0.0.1:abc/", "http://127.0.0.1:99999/", "http://[::1", "ftp://x/"], ids=repr
)
@pytest.mark.clause("fanout.args")
def test_a_bad_url_anywhere_is_refused_before_any_request(
    fanout: Fanout, run: Run, server: LoopbackServer, form: str, bad: str
) -> None:
    urls = [f"{server.url}/bytes/1"] * 3 + [bad]
    call = fanout.fetch_all if form == "fetch_all" else (lambda *a, **kw: _collect(fanout, *a, **kw))

    with pytest.raises(ValueError, match=r"^`urls\[3\]` "):
        run(call, urls, limit=2)
    assert server.stats().served == 0


@pytest.mark.clause("fanout.as_completed")
def test_as_completed_yields_in_completion_order(fanout: Fanout, run: Run, server: LoopbackServer) -> None:
    slow, fast = f"{server.url}/bytes/1?delay=1000", f"{server.url}/bytes/2"

    results = run(_collect, fanout, [slow, fast], limit=2)

    assert [(r.index, r.url, r.size) for r in results] == [(1, fast, 2), (0, slow, 1)]


@pytest.mark.clause("fanout.as_completed")
def test_as_completed_gives_every_result_once(fanout: Fanout, run: Run, server: LoopbackServer) -> None:
    urls = [f"{server.url}/bytes/{n}" for n in range(50)] + [f"{server.url}/status/500"]

    results = run(_collect, fanout, urls, limit=7)

    assert sorted(r.index for r in results) == list(range(51))
    assert all(r.ok for r in results if r.index < 50)
    assert results[[r.index for r in results].index(50)].error is ErrorKind.STATUS


@pytest.mark.clause("fanout.as_completed.exit")
def test_breaking_out_of_as_completed_cancels_everything(fanout: Fanout, run: Run, server: LoopbackServer) -> None:
    first = f"{server.url}/hold/4"
    urls = [first] + [f"{server.url}/hang"] * 3

    async def scenario() -> list[str]:
        taken = []
        async with fanout.fetch_as_completed(urls, limit=4) as results:
            async for result in results:
                taken.append(result.url)
                break
        return taken

    assert run(scenario) == [first]
    stats = server.wait_idle()
    # All four were in flight (the hold proves it); none is left open.
    assert (stats.max_in_flight, stats.in_flight, stats.open_connections) == (4, 0, 0)


@pytest.mark.clause("fanout.as_completed.exit")
def test_closing_the_iterator_stops_the_fetches(
    flavour: Flavour, fanout: Fanout, run: Run, server: LoopbackServer
) -> None:
    urls = [f"{server.url}/hold/3"] + [f"{server.url}/hang"] * 2

    async def scenario() -> None:
        # The counters are read with the flavour's own client: a blocking read would hold the loop.
        async with httpx.AsyncClient() as counters, fanout.fetch_as_completed(urls, limit=3) as results:
            await anext(results)
            await results.aclose()
            # Still inside the block: the hanging fetches must go away on their own (the run's
            # timeout fails the test if they never do).
            while (await counters.get(f"{server.url}/stats")).json()["in_flight"]:
                await flavour.sleep(0.01)

    run(scenario)
    assert server.wait_idle().open_connections == 0


@pytest.mark.clause("fanout.as_completed.exit", "fanout.fail_fast")
def test_fail_fast_in_as_completed_raises_out_of_the_block(fanout: Fanout, run: Run, server: LoopbackServer) -> None:
    failing = f"{server.url}/hold/3?status=502"
    urls = [f"{server.url}/hang", f"{server.url}/hang", failing]

    with pytest.raises(FanoutError) as caught:
        run(_collect, fanout, urls, limit=3, fail_fast=True)

    assert type(caught.value) is FanoutError
    assert caught.value.url == failing
    assert isinstance(caught.value.__cause__, httpx.HTTPStatusError)
    assert server.wait_idle().open_connections == 0


@pytest.mark.clause("fanout.as_completed.exit")
def test_an_error_in_the_block_comes_out_bare(fanout: Fanout, run: Run, server: LoopbackServer) -> None:
    urls = [f"{server.url}/hold/2", f"{server.url}/hang"]

    class Stop(Exception):
        pass

    async def scenario() -> None:
        async with fanout.fetch_as_completed(urls, limit=2) as results:
            async for _ in results:
                raise Stop

    with pytest.raises(Stop):
        run(scenario)
    assert server.wait_idle().open_connections == 0
