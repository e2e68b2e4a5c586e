"""One way amounts, quantities and periods read (billingsite.display and its template filters)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.template import Context, Template
from djmoney.money import Money

from billingsite import display


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (Decimal("80.90"), "USD", "80.90 USD"),
        (Decimal("80.9000"), "USD", "80.90 USD"),
        (Decimal("1234567.5"), "EUR", "1,234,567.50 EUR"),
        (Decimal("-12.5"), "USD", "-12.50 USD"),
        (Decimal("0"), "USD", "0.00 USD"),
        (Decimal("1000"), "JPY", "1,000 JPY"),
        (Decimal("1.25"), "KWD", "1.250 KWD"),
        (None, "USD", display.DASH),
    ],
)
def test_money_text(amount, currency, text):
    assert display.money_text(amount, currency) == text


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (Decimal("319.000000000000000000"), "", "319"),
        (Decimal("2.500"), "GB", "2.5 GB"),
        (Decimal("1E+3"), "", "1,000"),
        (Decimal("1234567.125"), "calls", "1,234,567.125 calls"),
        (Decimal("-0"), "", "0"),
    ],
)
def test_quantity_text(value, unit, text):
    assert display.quantity_text(value, unit) == text


def test_whole_day_period_reads_as_dates_in_the_customers_zone():
    start = datetime(2026, 8, 1, 4, tzinfo=UTC)  # midnight in New York (EDT)
    end = datetime(2026, 9, 1, 4, tzinfo=UTC)
    assert display.period_text(start, end, "America/New_York") == "Aug 1 \u2013 Aug 31, 2026"
    # The same instants in UTC are not whole days: they read with their times.
    assert "04:00" in display.period_text(start, end, "UTC")


def test_period_across_years_and_single_day():
    assert (
        display.period_text(
            datetime(2025, 12, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC), "UTC"
        )
        == "Dec 1, 2025 \u2013 Jan 1, 2026"
    )
    assert (
        display.period_text(
            datetime(2026, 3, 5, tzinfo=UTC), datetime(2026, 3, 6, tzinfo=UTC), "UTC"
        )
        == "Mar 5, 2026"
    )


def test_template_filters_render_money_quantity_and_local_time():
    html = Template(
        "{% load tally_format %}{{ a|money:'USD' }}|{{ m|money }}|{{ q|quantity:'GB' }}|"
        "{% local_time t 'America/New_York' %}"
    ).render(
        Context(
            {
                "a": Decimal("1234.5"),
                "m": Money("80.9000", "USD"),
                "q": Decimal("319.000"),
                "t": datetime(2026, 8, 1, 18, 5, tzinfo=UTC),
            }
        )
    )
    assert html.startswith("1,234.50 USD|80.90 USD|319 GB|<time ")
    assert "Aug 1, 2026, 14:05 EDT" in html
    assert 'title="2026-08-01 18:05 UTC"' in html
