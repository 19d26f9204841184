"""The report page in a real browser: headless Chromium opens it from disk.

Run by ``nox -s browser`` with ``pytest --noconftest`` (not by the behaviour suite: it needs
Chromium, and Playwright's own threads are not the leaks the suite's fixtures look for). Checks that the
page makes no request and logs no error, that every section is visible, that the three
columns stand side by side at 1400 px and stack at 400 px, and that the tabs work from the
keyboard (the page built here has a fault matrix, with a disagreeing cell, a stress and a fuzz
run in its trust section); saves screenshots under ``$TRIPTYCH_SCREENSHOTS`` (default
``screenshots/``).

The page is built from the fixed result sets of the unit tests; ``TRIPTYCH_PAGE=path``
checks a page you built instead (e.g. ``results/report.html``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright

from tests.site_fixtures import TYPICAL, catalogue, write_faults, write_fuzz, write_results, write_stress
from triptych.faults import Cell
from triptych.site import read_catalogue, read_results, write_page
from triptych.trust import read_trust

INSTALL_HINT = "Chromium is missing: install it (Debian/Ubuntu: apt-get install chromium), or set CHROMIUM=/path/to/it"
SECTIONS = ("guide", "workloads", "numbers", "catalogue", "trust", "reproduce")
SCREENSHOTS = Path(os.environ.get("TRIPTYCH_SCREENSHOTS", "screenshots"))


def _chromium() -> str:
    for candidate in (os.environ.get("CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (found := shutil.which(candidate)):
            return found
    pytest.fail(INSTALL_HINT, pytrace=False)


@pytest.fixture(scope="module")
def page_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    if given := os.environ.get("TRIPTYCH_PAGE"):
        return Path(given).resolve().as_uri()
    folder = tmp_path_factory.mktemp("results")
    write_results(folder, TYPICAL)
    # A fault matrix with one disagreeing cell (the widest kind), a stress run and a fuzz run.
    write_faults(folder, differ={("5xx", "fetch_all"): {"trio": Cell("ok ok ok ok", 0.5)}})
    write_stress(folder, {"tests/test_pipeline.py::test_backpressure[anyio-uvloop]": 1})
    write_fuzz(folder, {"tests/test_fuzz.py::test_pipeline_agrees_on_every_flavour": (200, 0, 18, "passed")})
    page = folder / "report.html"
    return write_page(page, read_results([folder]), read_catalogue(catalogue()), read_trust([folder])).as_uri()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = _chromium()
    with sync_playwright() as playwright:
        # No sandbox: CI containers run as root, where Chromium refuses its sandbox.
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


class _Watched:
    """A page at one width, with every request and console error it produced."""

    def __init__(self, browser: Browser, url: str, width: int) -> None:
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page: Page = browser.new_page(viewport={"width": width, "height": 900})
        self.page.on("request", self._request)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(url)
        self.page.wait_for_load_state("load")

    def _request(self, request: Request) -> None:
        if not request.url.startswith("file:"):
            self.requests.append(request.url)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in {"error", "warning"}:
            self.errors.append(f"{message.type}: {message.text}")


@pytest.fixture(params=[1400, 400], ids=["1400px", "400px"])
def watched(browser: Browser, page_url: str, request: pytest.FixtureRequest) -> Iterator[_Watched]:
    opened = _Watched(browser, page_url, request.param)
    yield opened
    opened.page.close()


def test_no_request_and_no_console_error(watched: _Watched) -> None:
    watched.page.get_by_role("tab", name="timeouts").click()
    _open_first_entry(watched.page)
    assert watched.requests == []
    assert watched.errors == []


def test_every_section_is_present_and_visible(watched: _Watched) -> None:
    for section in SECTIONS:
        assert watched.page.locator(f"#{section}").is_visible(), section
        assert watched.page.locator(f"#{section} h2").is_visible(), section


def test_the_columns_stand_side_by_side_when_wide_and_stack_when_narrow(watched: _Watched) -> None:
    cells = watched.page.locator("#w-fanout .section").nth(1).locator(".cell")
    boxes = [cells.nth(index).bounding_box() for index in range(3)]
    assert all(box is not None for box in boxes)
    xs = [box["x"] for box in boxes if box]
    ys = [box["y"] for box in boxes if box]
    width = watched.page.viewport_size["width"] if watched.page.viewport_size else 0
    if width >= 1400:
        assert xs[0] < xs[1] < xs[2]
        assert ys[0] == ys[1] == ys[2]
    else:
        assert xs[0] == xs[1] == xs[2]
        assert ys[0] < ys[1] < ys[2]
    overflow = watched.page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, "the page itself must not scroll sideways; wide code scrolls in its cell"
    _screenshots(watched, width)


def _screenshots(watched: _Watched, width: int) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    watched.page.screenshot(path=SCREENSHOTS / f"guide-{width}.png")
    watched.page.locator("#w-fanout").screenshot(path=SCREENSHOTS / f"fanout-{width}.png")
    _open_first_entry(watched.page)
    watched.page.locator("#catalogue").screenshot(path=SCREENSHOTS / f"catalogue-{width}.png")
    watched.page.locator("#trust").screenshot(path=SCREENSHOTS / f"trust-{width}.png")


def _open_first_entry(page: Page) -> None:
    page.locator("details.entry summary").first.click()
    assert page.locator("details.entry").first.get_attribute("open") is not None


def test_the_tabs_work_from_the_keyboard(watched: _Watched) -> None:
    page = watched.page
    first = page.get_by_role("tab", name="fanout")
    assert first.get_attribute("aria-selected") == "true"
    assert page.locator("#w-fanout").is_visible()
    assert not page.locator("#w-pipeline").is_visible()
    # Tab from the start of the page reaches the selected tab (past every focusable element
    # before it at most: a real page cites many numbers); the arrow keys move along.
    focusable = page.evaluate("document.querySelectorAll('a[href], button, [tabindex]').length")
    for _ in range(focusable + 1):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "tab-w-fanout":
            break
    else:
        pytest.fail("the workload tabs cannot be reached with the Tab key")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "tab-w-pipeline"
    assert page.locator("#w-pipeline").is_visible()
    assert not page.locator("#w-fanout").is_visible()
    page.keyboard.press("End")
    assert page.get_by_role("tab", name="primitives").get_attribute("aria-selected") == "true"


def test_a_link_into_a_hidden_panel_opens_it(watched: _Watched) -> None:
    number = watched.page.locator("#w-locks tr[id] th").first
    assert not number.is_visible()
    watched.page.locator("#guide a.num").first.click()
    target = watched.page.evaluate("location.hash").lstrip("#")
    assert watched.page.locator(f"[id='{target}']").is_visible()


def test_the_page_reads_without_script(browser: Browser, page_url: str) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(page_url)
    for module in ("fanout", "pipeline", "locks"):
        assert page.locator(f"#w-{module}").is_visible(), module
    assert not page.locator("[role=tablist]").first.is_visible()
    context.close()
