"""Real-browser fixtures: Playwright (sync API) driving Debian's Chromium against live_server.

- ``browser`` (one per test package run): Chromium from ``/usr/bin/chromium``. Missing
  Chromium FAILS the browser tests with the fix in the message; ``TALLY_SKIP_BROWSER=1`` is
  the only way to skip them. ``bin/tally test`` installs it with apt-get when run as root.
- ``page``: a fresh browser context per test on pytest-django's ``live_server`` (which
  serves static files through ``StaticFilesHandler``, so the admin's CSS/JS load). Every
  request that is not for the live server is aborted and recorded; a test that caused one
  errors at teardown (no network beyond loopback, ever).
- ``screenshot(step)``: saves ``test-artifacts/screenshots/<test name>-<step>.png``.

Playwright's sync API keeps an asyncio loop running on the main thread while it is open,
which Django's async-safety guard would read as "called from async code" and refuse ORM
calls in the test body. The browser therefore lives only for this package (scope
``package``), and ``DJANGO_ALLOW_ASYNC_UNSAFE`` is set for exactly that span: no other test
runs with a loop on its thread.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.apps import apps as django_apps
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

from accounts.roles import sync_roles

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # A non-local name for the live server, so pages behave as they do in production
    # (Swagger UI, for one, treats localhost specially).
    "--host-resolver-rules=MAP tally.test 127.0.0.1",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"

# expect() waits as long as actions do (the context's 10 s below), not Playwright's 5 s: CI
# shares 2 cores between two xdist workers, a Chromium and the live server.
expect.set_options(timeout=10_000)
SKIP_ENV = "TALLY_SKIP_BROWSER"
PROD_HOST = "tally.test"
STAFF_PASSWORD = "browser-test-password-1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(SKIP_ENV) != "1":
        return
    skip = pytest.mark.skip(reason=f"{SKIP_ENV}=1: browser tests opted out")
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Remember each phase's report on the item, so ``page`` can screenshot failures."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}. The browser tests need Debian's chromium: "
            f"run `apt-get install -y chromium` (bin/tally test does this when run as root), "
            f"or set {SKIP_ENV}=1 to skip them explicitly.",
            pytrace=False,
        )
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(autouse=True)
def _staff_roles(transactional_db: None) -> None:
    """Recreate the role groups: a transactional test's flush deletes the data migration's
    rows, and its post_migrate signal (sent without ``apps``) does not refill them."""
    sync_roles(django_apps)


@pytest.fixture
def allow_prod_host(settings: Any, live_server: LiveServer) -> str:
    """Let the live server answer as ``tally.test`` (mapped to loopback in Chromium)."""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, PROD_HOST]
    port = urlsplit(live_server.url).port
    return f"http://{PROD_HOST}:{port}"


@pytest.fixture
def offsite_requests() -> list[str]:
    return []


@pytest.fixture
def browser_context_options() -> dict[str, object]:
    return {
        "viewport": {"width": 1280, "height": 860},
        "locale": "en-US",
        "timezone_id": "UTC",
        "color_scheme": "light",
    }


@pytest.fixture
def page(
    browser: Browser,
    live_server: LiveServer,
    offsite_requests: list[str],
    browser_context_options: dict[str, object],
    request: pytest.FixtureRequest,
) -> Iterator[Page]:
    port = urlsplit(live_server.url).port
    local = {("localhost", port), ("127.0.0.1", port), (PROD_HOST, port)}

    def guard(route: Route) -> None:
        parts = urlsplit(route.request.url)
        if parts.scheme in ("data", "blob") or (parts.hostname, parts.port) in local:
            route.continue_()
        else:
            offsite_requests.append(route.request.url)
            route.abort("blockedbyclient")

    context = browser.new_context(base_url=live_server.url, **browser_context_options)
    context.set_default_timeout(10_000)
    context.route("**/*", guard)
    tab = context.new_page()
    yield tab
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(
            path=str(SCREENSHOTS / f"{_safe(request.node.name)}-FAILED.png"), full_page=True
        )
    context.close()
    assert not offsite_requests, f"requests left the machine: {offsite_requests}"


@pytest.fixture
def screenshot(page: Page, request: pytest.FixtureRequest) -> Callable[..., Path]:
    """``screenshot("step")`` saves the whole page as ``<test name>-<step>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    test_name = _safe(request.node.name)

    def take(step: str, *, full_page: bool = True) -> Path:
        path = SCREENSHOTS / f"{test_name}-{_safe(step)}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def sign_in(page: Page, username: str, password: str = STAFF_PASSWORD) -> None:
    """Sign in through the admin login form, as a person would."""
    page.goto("/admin/login/?next=/admin/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")
