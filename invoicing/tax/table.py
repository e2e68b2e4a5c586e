"""The built-in tax provider: the ``TaxRate`` table.

Rates apply to a customer when their address is in the rate's jurisdiction (the country, or
the country and state) or their tax id is assigned to the rate, and the tax point falls in the
rate's effective days. An EU business customer (a valid VAT id of their own EU country) of a
seller in another EU country (``settings.TAX_SELLER_COUNTRY``) is reverse charged: no VAT, a
note on the invoice.
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db.models import Q

from accounts.models import Customer
from invoicing.models import TaxRate
from invoicing.tax.provider import AppliedRate, TaxQuote
from invoicing.tax.vat import EU_COUNTRIES, is_valid_eu_vat_id, normalize_vat_id

REVERSE_CHARGE_NOTE = (
    "Reverse charge: VAT to be accounted for by the recipient "
    "(Article 196, Council Directive 2006/112/EC). Customer VAT id: {vat_id}"
)


def reverse_charged(customer: Customer) -> bool:
    seller = str(getattr(settings, "TAX_SELLER_COUNTRY", "") or "").upper()
    country = customer.country.upper()
    return (
        seller in EU_COUNTRIES
        and country in EU_COUNTRIES
        and country != seller
        and is_valid_eu_vat_id(customer.tax_id, country)
    )


def jurisdictions_of(customer: Customer) -> list[str]:
    country = customer.country.upper()
    if not country:
        return []
    found = [country]
    if customer.state.strip():
        found.append(f"{country}-{customer.state.strip().upper()}")
    return found


class TableTaxProvider:
    def quote(self, customer: Customer, currency: str, tax_point: date) -> TaxQuote:
        if reverse_charged(customer):
            vat_id = normalize_vat_id(customer.tax_id)
            return TaxQuote(
                reverse_charge=True,
                note=REVERSE_CHARGE_NOTE.format(vat_id=vat_id),
                details={"vat_id": vat_id},
            )
        jurisdictions = jurisdictions_of(customer)
        if not jurisdictions and not customer.tax_id.strip():
            return TaxQuote()  # no address and no tax id: nothing can apply (saves a query)
        match = Q(jurisdiction__in=jurisdictions)
        if customer.tax_id.strip():
            match |= Q(assignments__tax_id=customer.tax_id.strip())
        rows = (
            TaxRate.objects.filter(match, effective_from__lte=tax_point)
            .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=tax_point))
            .distinct()
            .order_by("jurisdiction", "name", "pk")
        )
        return TaxQuote(
            rates=tuple(
                AppliedRate(
                    key=f"table:{row.pk}",
                    name=row.name,
                    jurisdiction=row.jurisdiction,
                    rate=row.rate,
                    inclusive=row.inclusive,
                )
                for row in rows
            )
        )
