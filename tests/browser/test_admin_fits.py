"""Admin tables fit the screen: every changelist and change page, as each role, at 1,366 px.

Seeds the demo, signs in once per role (Support, Finance, Admin) and walks every registered
changelist plus the change page of its newest row (``tests/admin_pages.py``, the same walk as
the raw-decimal scan). At 1,366 px (a common laptop) a page fails when it scrolls sideways or
when a table is wider than the box that holds it (the admin's cards clip with
``overflow: hidden``, which hides the last columns without any scroll bar). Screenshots at
1,366 and 390 px go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from playwright.sync_api import APIResponse, Page, Route

from tests.admin_pages import ROLE_USERS, AdminPage, admin_pages_for
from tests.browser.conftest import sign_in

# ~210 page loads at 1,366 px, ~40 at 1,920 px and ~420 screenshots after seeding the demo.
# Measured in two runs on the 2-core machine shared with other work (load average 14-20):
# 11-14 min wall, ~222 CPU seconds for the pytest process each time; not the 3 minutes
# wanted on an idle machine. TALLY_ADMIN_SCREENSHOTS=0 skips the screenshots; the time bound
# is wide for shared machines.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(1800),
]

LAPTOP = {"width": 1366, "height": 768}
WIDE = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}

# What sticks out, in words: the page scrolling sideways, or a table wider than the nearest
# box that clips or scrolls it (or than the content area).
OVERFLOW_JS = """
() => {
  const problems = [];
  const root = document.scrollingElement;
  if (root.scrollWidth > root.clientWidth + 1) {
    problems.push(`the page scrolls sideways by ${root.scrollWidth - root.clientWidth}px`);
  }
  const content = document.querySelector('#content') || document.body;
  const clips = (el) => {
    const style = getComputedStyle(el);
    return style.overflowX !== 'visible' || el === content;
  };
  for (const table of content.querySelectorAll('table')) {
    // Hidden: folded <details> ("How it was rated"), closed filter groups.
    if (!table.checkVisibility() || table.closest('details:not([open])')) continue;
    let box = table.parentElement;
    while (box && !clips(box)) box = box.parentElement;
    if (!box) continue;
    const over = table.getBoundingClientRect().right - box.getBoundingClientRect().right;
    if (over > 1) {
      const name = table.id || table.className || table.closest('[id]')?.id || 'table';
      const holder = box.id || box.className;
      problems.push(`${name} is ${Math.round(over)}px wider than its box (${holder})`);
    }
  }
  return problems;
}
"""


def _cache_static(page: Page) -> None:
    """Serve each static file (CSS, JS, icons) from memory after its first load: ~200 page
    loads would otherwise ask the single-threaded live server for ~20 files each."""
    cache: dict[str, APIResponse] = {}

    def serve(route: Route) -> None:
        url = route.request.url
        if url not in cache:
            cache[url] = route.fetch()
        route.fulfill(response=cache[url])

    page.route("**/static/**", serve)


def _walk(page: Page, role: str, pages: list[AdminPage], size: dict[str, int]) -> list[str]:
    """Open each page at ``size``; the overflow problems found, named by role and page."""
    page.set_viewport_size(size)
    problems = []
    for admin_page in pages:
        page.goto(admin_page.url, wait_until="domcontentloaded")
        for problem in page.evaluate(OVERFLOW_JS):
            problems.append(f"{role} {admin_page.label} at {size['width']}px: {problem}")
    return problems


def _shoot(page: Page, screenshot: Callable[..., Path], role: str, pages: list[AdminPage]) -> None:
    for size in (LAPTOP, PHONE):
        page.set_viewport_size(size)
        for admin_page in pages:
            page.goto(admin_page.url, wait_until="domcontentloaded")
            screenshot(f"{role}-{admin_page.label}-{size['width']}", full_page=False)


def test_every_admin_page_fits_a_laptop_screen(page: Page, screenshot: Callable[..., Path]) -> None:
    call_command("seed_demo", stdout=io.StringIO())
    _cache_static(page)
    problems: list[str] = []
    walked = 0
    for role, (username, password) in ROLE_USERS.items():
        pages = admin_pages_for(User.objects.get(username=username))
        sign_in(page, username, password)
        problems += _walk(page, role, pages, LAPTOP)
        walked += len(pages)
        if role == "admin":  # Admin sees every list: they fit a 1,920 px screen too
            problems += _walk(page, role, [p for p in pages if "changelist" in p.label], WIDE)
        if os.environ.get("TALLY_ADMIN_SCREENSHOTS", "1") != "0":
            _shoot(page, screenshot, role, pages)
        page.context.clear_cookies()  # sign out
    assert walked > 60, walked
    assert not problems, "\n".join(problems)
