"""The API docs page works offline: Swagger UI and its assets come from our own server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request, expect

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_renders_from_local_assets_only(
    page: Page,
    allow_prod_host: str,
    offsite_requests: list[str],
    screenshot: Callable[..., Path],
) -> None:
    # Served under a non-local name: Swagger UI skips some network features on localhost.
    seen: list[Request] = []
    page.on("request", lambda request: seen.append(request))

    page.goto(f"{allow_prod_host}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Tally API")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    page.wait_for_load_state("networkidle")
    screenshot("1-swagger-ui", full_page=False)

    urls = [request.url for request in seen]
    assert any(urlsplit(u).path.endswith(".js") for u in urls), urls  # the UI's own bundle
    assert any(urlsplit(u).path == "/api/schema/" for u in urls), urls  # the schema it shows
    off_host = [
        u
        for u in urls
        if urlsplit(u).netloc != urlsplit(allow_prod_host).netloc
        and urlsplit(u).scheme not in ("data", "blob")
    ]
    assert off_host == [], off_host
    assert offsite_requests == []


def test_requests_off_the_live_server_are_blocked_and_recorded(
    page: Page, live_server: object, offsite_requests: list[str]
) -> None:
    """The guard every browser test runs under: nothing may leave the machine."""
    page.goto("/admin/login/")
    page.evaluate("""() => fetch("https://cdn.example.com/lib.js").catch(() => null)""")
    page.wait_for_timeout(200)
    assert offsite_requests == ["https://cdn.example.com/lib.js"]
    offsite_requests.clear()  # seen and expected: don't fail this test at teardown
