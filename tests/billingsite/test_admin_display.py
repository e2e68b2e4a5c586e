"""The admin's one way of showing stored values: money, quantities, structured values."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.admin import utils as admin_utils
from django.db import models
from django.template import Context, Template
from djmoney.models.fields import MoneyField
from djmoney.money import Money

from billingsite.admin_display import price_spec_html, structured_html
from billingsite.display import price_text


def test_the_admin_shows_money_fields_as_money_and_decimals_without_trailing_zeros() -> None:
    money_field = MoneyField(max_digits=24, decimal_places=4, default_currency="USD")
    decimal_field = models.DecimalField(max_digits=38, decimal_places=18)
    json_field = models.JSONField()
    show = admin_utils.display_for_field  # installed by BillingsiteConfig.ready()
    assert show(Money(Decimal("1234.5000"), "USD"), money_field, "-") == "1,234.50 USD"
    assert show(Money(Decimal("1200"), "JPY"), money_field, "-") == "1,200 JPY"
    assert show(Decimal("319.000000000000000000"), decimal_field, "-") == "319"
    assert show(Decimal("0.800000000000"), decimal_field, "-") == "0.8"
    assert show(None, decimal_field, "-") == "-"
    html = show({"model": "gpt-4o", "tokens": "12.5000"}, json_field, "-")
    assert html == (
        '<dl class="tally-kv"><dt>model</dt><dd>gpt-4o</dd><dt>tokens</dt><dd>12.5</dd></dl>'
    )


def test_structured_values_are_lists_and_tables_never_reprs() -> None:
    html = structured_html([{"up_to": 100, "unit_amount": "0.50"}, {"up_to": None}])
    assert html.startswith('<table class="tally-mini">')
    assert "<th>up to</th><th>unit amount</th>" in html
    assert "<td>100</td><td>0.5</td>" in html
    assert "<td>\u2014</td><td>\u2014</td>" in html  # missing and null read as a dash
    assert "{" not in html and "[" not in html
    assert structured_html(["a", "b"]) == "a, b"
    assert "&lt;script&gt;" in structured_html({"name": "<script>"})  # escaped


def test_price_specs_read_as_tables_with_the_currency() -> None:
    spec = {
        "model": "graduated",
        "tiers": [
            {"up_to": "1000", "unit_amount": "0.000125"},
            {"up_to": None, "unit_amount": "0.0001", "flat_amount": "5"},
        ],
        "minimum": "10",
    }
    html = price_spec_html(spec, "USD")
    assert "<dt>model</dt><dd>graduated</dd>" in html
    assert '<span class="tally-exact">0.000125 USD</span>' in html
    assert '<span class="tally-exact">5.00 USD</span>' in html
    assert '<span class="tally-exact">10.00 USD</span>' in html
    assert "<td>1,000</td>" in html


def test_price_text_keeps_a_unit_price_exact_and_pads_to_the_currency() -> None:
    assert price_text(Decimal("49"), "USD") == "49.00 USD"
    assert price_text(Decimal("0.000125"), "USD") == "0.000125 USD"
    assert price_text(Decimal("0.50000"), "USD") == "0.50 USD"
    assert price_text(None, "USD") == "\u2014"


def test_template_filters_for_structured_values_and_rollup_groups() -> None:
    template = Template(
        "{% load tally_format %}{{ props|structured }}|{% group_values keys values %}"
        "|{% group_values keys empty %}|{{ figure|money:'EUR' }}|{{ rate|percent }}"
    )
    text = template.render(
        Context(
            {
                "props": {"region": "eu"},
                "keys": ["model"],
                "values": ["gpt-4o"],
                "empty": [],
                "figure": "80.9",
                "rate": Decimal("0.6000"),
            }
        )
    )
    assert text == (
        '<dl class="tally-kv"><dt>region</dt><dd>eu</dd></dl>'
        '|<dl class="tally-kv"><dt>model</dt><dd>gpt-4o</dd></dl>'
        "|(no grouping)|80.90 EUR|60%"
    )
