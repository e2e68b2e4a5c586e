"""Tax (issue 19 item 5): known answers for per-line rounding in USD, JPY and KWD, one tax line
per rate with totals equal to the sum of lines, two rates on one invoice (lines, PDF, Stripe
items), effective dates, assignment by tax id and the EU reverse charge."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billingsite.money import amount_of, round_line, sum_lines, to_minor_units
from invoicing.models import Invoice, LineKind, TaxRate, TaxRateAssignment
from invoicing.periods import Period
from invoicing.selectors.computation import LineDraft
from invoicing.services.billing import billing_run
from invoicing.stripe.invoice_items import stripe_items, stripe_total
from invoicing.tax.lines import line_tax, tax_lines
from invoicing.tax.provider import AppliedRate, TaxQuote
from invoicing.tax.table import TableTaxProvider
from invoicing.tax.vat import is_valid_eu_vat_id
from tests.factories import CustomerFactory
from tests.invoicing.factories import make_contract
from tests.invoicing.pdf_text import pdf_lines
from tests.usage_sources import fixed_usage

D = Decimal
PERIOD = Period(date(2026, 1, 1), date(2026, 2, 1), "UTC")


def usage_lines(*amounts: str) -> list[LineDraft]:
    return [
        LineDraft(LineKind.USAGE, f"line {i}", PERIOD.start, PERIOD.end, D(a))
        for i, a in enumerate(amounts)
    ]


def quote(*rates: tuple[str, str, bool]) -> TaxQuote:
    return TaxQuote(
        rates=tuple(
            AppliedRate(key=f"k{i}", name=name, jurisdiction="XX", rate=D(rate), inclusive=inc)
            for i, (name, rate, inc) in enumerate(rates)
        )
    )


@pytest.mark.parametrize(
    ("currency", "rate", "amounts", "per_line", "line_total", "on_the_sum"),
    [
        # USD, 7.25 %: 0.725 -> 0.73, 0.005075 -> 0.01, 1.449275 -> 1.45 (the sum would be 2.18)
        ("USD", "7.25", ["10.00", "0.07", "19.99"], ["0.73", "0.01", "1.45"], "2.19", "2.18"),
        # JPY, 10 %: 10.5 -> 11, 1.5 -> 2, 123.4 -> 123 (no minor unit; the sum would be 135)
        ("JPY", "10", ["105", "15", "1234"], ["11", "2", "123"], "136", "135"),
        # KWD, 5 %: 0.0005 -> 0.001, 0.0015 -> 0.002, 0.0025 -> 0.003 (3 places; sum: 0.005)
        ("KWD", "5", ["0.010", "0.030", "0.050"], ["0.001", "0.002", "0.003"], "0.006", "0.005"),
        # a discount lowers the tax, half up away from zero: -0.00725 -> -0.01
        ("USD", "7.25", ["1.00", "-0.10"], ["0.07", "-0.01"], "0.06", "0.07"),
    ],
)
def test_tax_is_rounded_half_up_per_line_and_the_tax_line_is_their_sum(
    currency, rate, amounts, per_line, line_total, on_the_sum
):
    assert [line_tax(D(a), D(rate), currency) for a in amounts] == [D(t) for t in per_line]
    lines = usage_lines(*amounts)
    if D(amounts[-1]) < 0:
        lines[-1].kind = LineKind.DISCOUNT
    (tax,) = tax_lines(lines, quote=quote(("Tax", rate, False)), currency=currency, period=PERIOD)
    assert tax.kind == LineKind.TAX and tax.amount == D(line_total)
    assert [p["tax"] for p in tax.details["per_line"]] == per_line
    exact_on_sum = round_line(sum_lines(map(D, amounts), currency) * D(rate) / 100, currency)
    assert exact_on_sum == D(on_the_sum)  # what per-line rounding is not


def test_an_inclusive_rate_shows_the_tax_inside_the_amounts_and_adds_nothing():
    assert line_tax(D("12.00"), D("20"), "USD", inclusive=True) == D("2.00")
    assert line_tax(D("1.00"), D("20"), "USD", inclusive=True) == D("0.17")  # 0.1666...
    lines = usage_lines("12.00", "1.00")
    (tax,) = tax_lines(lines, quote=quote(("VAT", "20", True)), currency="USD", period=PERIOD)
    assert tax.amount == 0 and tax.details["included"] == "2.17"
    assert tax.description == "VAT 20% (XX) included"


def test_credits_and_commit_prepayments_are_not_taxed():
    lines = usage_lines("10.00")
    lines.append(LineDraft(LineKind.COMMIT, "commit", PERIOD.start, PERIOD.end, D("100.00")))
    lines.append(LineDraft(LineKind.CREDIT, "credit", PERIOD.start, PERIOD.end, D("-5.00")))
    (tax,) = tax_lines(lines, quote=quote(("T", "10", False)), currency="USD", period=PERIOD)
    assert tax.amount == D("1.00") and tax.details["taxable"] == "10.00"


@settings(max_examples=200, deadline=None)
@given(
    currency=st.sampled_from(["USD", "JPY", "KWD"]),
    cents=st.lists(st.integers(-(10**6), 10**8), min_size=1, max_size=8),
    rates=st.lists(st.decimals("0", "30", places=4), min_size=1, max_size=3),
)
def test_every_tax_line_is_the_sum_of_its_rounded_per_line_taxes(currency, cents, rates):
    places = {"USD": 2, "JPY": 0, "KWD": 3}[currency]
    lines = usage_lines(*[str(D(c).scaleb(-places)) for c in cents])
    taxes = tax_lines(
        lines,
        quote=quote(*[(f"R{i}", str(r), False) for i, r in enumerate(rates)]),
        currency=currency,
        period=PERIOD,
    )
    assert len(taxes) == len(rates)  # one tax line per rate
    for tax, rate in zip(taxes, rates, strict=True):
        expected = [round_line(ln.amount * rate / 100, currency) for ln in lines]
        assert tax.amount == sum(expected, D(0))
        assert round_line(tax.amount, currency) == tax.amount


@pytest.mark.django_db
def test_an_invoice_with_two_tax_rates_has_one_line_each_in_lines_pdf_and_stripe_items():
    gst = TaxRate.objects.create(
        name="GST", jurisdiction="CA", rate=D("5"), effective_from=date(2020, 1, 1)
    )
    TaxRate.objects.create(
        name="PST", jurisdiction="CA-BC", rate=D("7"), effective_from=date(2020, 1, 1)
    )
    TaxRate.objects.create(  # another province: not this customer's
        name="QST", jurisdiction="CA-QC", rate=D("9.975"), effective_from=date(2020, 1, 1)
    )
    customer = CustomerFactory(country="CA", state="BC")
    make_contract(customer)
    billing_run(now=datetime(2026, 2, 3, tzinfo=UTC), usage=fixed_usage({"api_calls": 1235}))
    invoice = Invoice.objects.get()
    lines = list(invoice.lines.order_by("position"))
    taxes = [ln for ln in lines if ln.kind == LineKind.TAX]
    assert [t.description for t in taxes] == ["GST 5% (CA)", "PST 7% (CA-BC)"]
    # 100.00 fee + 1235 x 0.01 = 12.35: GST 5.00 + 0.6175 -> 0.62; PST 7.00 + 0.8645 -> 0.86
    assert [amount_of(t.amount) for t in taxes] == [D("5.62"), D("7.86")]
    assert taxes[0].details["tax_rate"] == f"table:{gst.pk}"
    assert amount_of(invoice.total) == D("112.35") + D("5.62") + D("7.86")
    assert amount_of(invoice.total) == sum((amount_of(ln.amount) for ln in lines), D(0))
    (page,) = pdf_lines(invoice.pdf.read())
    assert "GST 5% (CA) 5.62 USD" in page and "PST 7% (CA-BC) 7.86 USD" in page
    items = stripe_items(lines, "USD")
    assert stripe_total(items) == to_minor_units(amount_of(invoice.total), "USD") == 12583


@pytest.mark.django_db
def test_rates_follow_their_effective_dates_and_tax_id_assignments():
    old = TaxRate.objects.create(
        name="VAT",
        jurisdiction="GB",
        rate=D("17.5"),
        effective_from=date(2008, 1, 1),
        effective_to=date(2026, 1, 15),
    )
    new = TaxRate.objects.create(
        name="VAT", jurisdiction="GB", rate=D("20"), effective_from=date(2026, 1, 15)
    )
    special = TaxRate.objects.create(
        name="Levy", jurisdiction="US", rate=D("1"), effective_from=date(2020, 1, 1)
    )
    TaxRateAssignment.objects.create(rate=special, tax_id="GB123456789")
    customer = CustomerFactory(country="GB", tax_id="GB123456789")
    provider = TableTaxProvider()
    keys = {r.key for r in provider.quote(customer, "GBP", date(2026, 1, 14)).rates}
    assert keys == {f"table:{old.pk}", f"table:{special.pk}"}
    keys = {r.key for r in provider.quote(customer, "GBP", date(2026, 1, 15)).rates}
    assert keys == {f"table:{new.pk}", f"table:{special.pk}"}


@pytest.mark.django_db
def test_an_eu_business_in_another_member_state_is_reverse_charged(settings):
    settings.TAX_SELLER_COUNTRY = "DE"
    TaxRate.objects.create(
        name="BTW", jurisdiction="NL", rate=D("21"), effective_from=date(2020, 1, 1)
    )
    customer = CustomerFactory(country="NL", tax_id="NL 8528.35.111B01")
    make_contract(customer)
    billing_run(now=datetime(2026, 2, 3, tzinfo=UTC), usage=fixed_usage({"api_calls": 10}))
    invoice = Invoice.objects.get()
    (tax,) = invoice.lines.filter(kind=LineKind.TAX)
    assert amount_of(tax.amount) == 0 and tax.details["vat_id"] == "NL852835111B01"
    assert tax.description.startswith("Reverse charge")
    assert amount_of(invoice.total) == D("100.10")
    # a consumer (no VAT id) in the same country pays the Dutch rate
    consumer = CustomerFactory(country="NL")
    assert [r.rate for r in TableTaxProvider().quote(consumer, "EUR", date(2026, 1, 31)).rates] == [
        D("21")
    ]


def test_eu_vat_id_formats():
    assert is_valid_eu_vat_id("DE123456789", "DE")
    assert is_valid_eu_vat_id("EL123456789", "GR")
    assert not is_valid_eu_vat_id("DE12345678", "DE")  # one digit short
    assert not is_valid_eu_vat_id("FR12345678901", "DE")  # another country's
    assert not is_valid_eu_vat_id("US123456789")
