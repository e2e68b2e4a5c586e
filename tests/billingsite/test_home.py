"""The landing page at ``/`` (the URL ``bin/tally run`` prints) answers everyone with the links
to the back office, the usage pages, the API docs and the health checks."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.services import customer_user_create, staff_user_create

pytestmark = pytest.mark.django_db

LINKS = ["/admin/", "/usage/", "/api/docs/", "/healthz", "/readyz"]


def _links(html: str) -> set[str]:
    return set(re.findall(r'href="([^"]+)"', html))


def test_anonymous_visitors_get_the_landing_page_with_every_entry_point():
    response = Client().get("/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert set(LINKS) <= _links(html)
    assert "/usage/sign-in/" in _links(html)
    assert "tally/admin.css" in html  # the back office's theme
    assert "Signed in as" not in html
    for path in LINKS:  # every link leads somewhere real
        assert Client().get(path).status_code in (200, 302), path


def test_a_signed_in_staff_user_sees_who_they_are_and_the_back_office():
    staff_user_create(username="sam-support", role="support", password="pw-sam-support-1")
    client = Client()
    assert client.login(username="sam-support", password="pw-sam-support-1")
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Signed in as <strong>sam-support</strong>" in html
    assert "Customers, invoices, refunds and disputes." in html
    assert set(LINKS) <= _links(html)


def test_a_signed_in_customer_user_is_pointed_at_their_usage(customer):
    customer_user_create(
        customer=customer, username="cu-ann", email="ann@example.com", password="pw-cu-ann-1"
    )
    client = Client()
    assert client.login(username="cu-ann", password="pw-cu-ann-1")
    html = client.get("/").content.decode()
    assert "Signed in as <strong>cu-ann</strong>" in html
    assert "Your usage, costs and invoices." in html
    assert set(LINKS) <= _links(html)


def test_the_landing_page_only_answers_reads():
    assert Client().post("/").status_code == 405
