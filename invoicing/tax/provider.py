"""The tax provider interface: what applies to a customer's invoice, given its tax point.

A provider answers ``quote(customer, currency, tax_point)`` with the rates to apply (each
computed per line by ``invoicing.tax.lines``) or a reverse charge. The built-in table
(``invoicing.tax.table.TableTaxProvider``) is the default; an external engine replaces it by
naming its class in ``settings.TAX_PROVIDER``. A provider only reads: the invoice computation
calls it for drafts, previews and finalization alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from accounts.models import Customer


@dataclass(frozen=True)
class AppliedRate:
    """One rate to apply to every taxable line. ``rate`` is a percentage."""

    key: str  # stable id of the rate at its provider ("table:<pk>")
    name: str
    jurisdiction: str
    rate: Decimal
    inclusive: bool = False


@dataclass(frozen=True)
class TaxQuote:
    rates: tuple[AppliedRate, ...] = ()
    reverse_charge: bool = False
    note: str = ""  # shown on the invoice (the reverse-charge mention)
    details: dict[str, str] = field(default_factory=dict)


NO_TAX = TaxQuote()


class TaxProvider(Protocol):
    def quote(self, customer: Customer, currency: str, tax_point: date) -> TaxQuote: ...


_override: TaxProvider | None = None


def tax_provider() -> TaxProvider:
    """The configured provider (``settings.TAX_PROVIDER``), or the one set by
    ``set_tax_provider`` (tests, an app's ``ready()``)."""
    if _override is not None:
        return _override
    path = getattr(settings, "TAX_PROVIDER", "invoicing.tax.table.TableTaxProvider")
    provider: TaxProvider = import_string(path)()
    return provider


def set_tax_provider(provider: TaxProvider | None) -> None:
    global _override
    _override = provider
