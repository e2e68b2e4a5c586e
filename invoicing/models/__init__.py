"""Invoicing models, one module per area: catalog, contracts, credits, invoices, stripe
(mirrors of what Stripe told us), reconciliation."""

# Last: entitlement models build on the catalog and contracts above.
from invoicing.entitlements.models import (
    ContractFeatureOverride,
    EntitlementCounter,
    Feature,
    FeatureType,
    PlanFeature,
    Reservation,
    ReservationStatus,
    Reset,
)
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
from invoicing.models.credit_notes import CreditNote, CreditNoteLine, CreditNoteOutcome
from invoicing.models.credits import CreditEntry, CreditEntryKind, CreditGrant, GrantKind
from invoicing.models.invoices import (
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceNumberCounter,
    InvoiceTransition,
    LineKind,
)
from invoicing.models.reconciliation import (
    DifferenceKind,
    ReconciliationDifference,
    ReconciliationRun,
    RunStatus,
)
from invoicing.models.stripe import (
    LinkStatus,
    Payment,
    PaymentMethodUpdateLink,
    PaymentStatus,
    StripeInvoice,
    StripePaymentMethod,
    StripeWebhookEvent,
    WebhookStatus,
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
    "ContractFeatureOverride",
    "CreditEntry",
    "CreditEntryKind",
    "CreditGrant",
    "CreditNote",
    "CreditNoteLine",
    "CreditNoteOutcome",
    "DifferenceKind",
    "Discount",
    "DiscountDuration",
    "DiscountKind",
    "EntitlementCounter",
    "Feature",
    "FeatureType",
    "GrantKind",
    "Invoice",
    "InvoiceKind",
    "InvoiceLine",
    "InvoiceNumberCounter",
    "InvoiceTransition",
    "LineKind",
    "LinkStatus",
    "OverrideKind",
    "Payment",
    "PaymentMethodUpdateLink",
    "PaymentStatus",
    "Plan",
    "PlanFeature",
    "PlanVersion",
    "RateOverride",
    "ReconciliationDifference",
    "ReconciliationRun",
    "Reservation",
    "ReservationStatus",
    "Reset",
    "RunStatus",
    "StripeInvoice",
    "StripePaymentMethod",
    "StripeWebhookEvent",
    "WebhookStatus",
]
