"""Amounts read as money on every admin page: no raw ``Decimal`` renderings.

Seeds the demo, then renders every registered changelist and one change page of each, as
Support, Finance and Admin, and scans the text a person reads (not form inputs, scripts or
hover titles) for the ways a ``Decimal`` leaks: "80.9000", "319.000000000000000000",
"Decimal('1')", an amount with more places than any currency has, and "Amount due: 0"
beside amounts written with their currency.
"""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from tests.admin_pages import ROLE_USERS, admin_pages_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

RAW_DECIMAL = [
    ("Decimal repr", re.compile(r"Decimal\(")),
    ("four or more zero places", re.compile(r"\d\.0{4,}(?!\d)")),
    # More than 3 places: no currency has them (quantities drop trailing zeros, rates are
    # percentages); a value like 0.3333 would be a rate the page should name as one.
    ("more places than money has", re.compile(r"(?<![\w.])\d[\d,]*\.\d{4,}(?![\d\w])")),
    ("bare zero amount", re.compile(r"(?i)\b(?:amount due|balance|total)\b:?\s+0(?![\d.,])")),
]
SKIPPED_TAGS = {"script", "style", "textarea", "select", "title"}


class _Text(HTMLParser):
    """The visible text: skips scripts, styles, form fields' values and attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # A unit price keeps its places on purpose ("0.000125 USD" a call): display.price_text
        # marks it ``tally-exact``.
        exact = "tally-exact" in (dict(attrs).get("class") or "").split()
        if tag in SKIPPED_TAGS or exact:
            self._skip += 1
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1] == tag:
            self._open.pop()
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.parts.append(data.strip())


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(parser.parts)


def raw_decimals(text: str) -> list[str]:
    found = []
    for name, pattern in RAW_DECIMAL:
        for match in pattern.finditer(text):
            start = max(0, match.start() - 40)
            found.append(f"{name}: …{text[start : match.end() + 20]}…")
    return found


def test_the_scan_catches_what_it_is_for() -> None:
    assert raw_decimals("Total 80.9000 USD")
    assert raw_decimals("Quantity 319.000000000000000000")
    assert raw_decimals("value Decimal('1.5')")
    assert raw_decimals("Amount due: 0 Total: 80.90 USD")
    assert raw_decimals("unit price 0.00012500")
    assert not raw_decimals("Total 1,234.50 USD, 319 GB, 2.5 hours, JPY 1,200, rate 8.25%")
    assert not raw_decimals("Amount due: 0.00 USD, v1.2.3")
    assert visible_text('<td>Price <span class="tally-exact">0.000125 USD</span></td>') == "Price"


def test_every_admin_page_reads_money_as_money() -> None:
    call_command("seed_demo", stdout=io.StringIO())
    client = Client()
    offenders: list[str] = []
    walked = 0
    for role, (username, _password) in ROLE_USERS.items():
        user = User.objects.get(username=username)
        client.force_login(user)
        for page in admin_pages_for(user):
            response = client.get(page.url)
            if page.may_refuse and response.status_code == 403:
                continue
            assert response.status_code == 200, (role, page.label, response.status_code)
            walked += 1
            for hit in raw_decimals(visible_text(response.content.decode())):
                offenders.append(f"{role} {page.label} ({page.url}): {hit}")
    assert walked > 60, walked  # every role sees dozens of pages; an empty walk proves nothing
    assert not offenders, "\n".join(offenders)
