"""Invoicing models, one module per area: catalog, contracts, credits, invoices."""

from invoicing.models.catalog import Cadence, Charge, ChargeKind, Plan, PlanVersion
from invoicing.models.contracts import (
    CollectionMethod,
    Commit,
    CommitKind,
    Contract,
    ContractAmendment,
    Discount,
    DiscountDuration,
    DiscountKind,
    OverrideKind,
    RateOverride,
)
from invoicing.models.credits import CreditEntry, CreditEntryKind, CreditGrant, GrantKind
from invoicing.models.invoices import (
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceNumberCounter,
    InvoiceTransition,
    LineKind,
)

__all__ = [
    "Cadence",
    "Charge",
    "ChargeKind",
    "CollectionMethod",
    "Commit",
    "CommitKind",
    "Contract",
    "ContractAmendment",
    "CreditEntry",
    "CreditEntryKind",
    "CreditGrant",
    "Discount",
    "DiscountDuration",
    "DiscountKind",
    "GrantKind",
    "Invoice",
    "InvoiceKind",
    "InvoiceLine",
    "InvoiceNumberCounter",
    "InvoiceTransition",
    "LineKind",
    "OverrideKind",
    "Plan",
    "PlanVersion",
    "RateOverride",
]
