"""Invoicing models, one module per area: catalog, contracts, credits, invoices, stripe
(mirrors of what Stripe told us), reconciliation."""

from invoicing.alerts.models import (
    Alert,
    AlertDirtyCustomer,
    AlertOwner,
    AlertTrigger,
    AlertType,
)

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
from invoicing.models.billing_runs import BillingRun, BillingRunStatus, BillingRunTrigger
from invoicing.models.catalog import Cadence, Charge, ChargeKind, Plan, PlanVersion
from invoicing.models.collections import DunningOutcome, DunningStep, DunningStepKind
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
from invoicing.models.credit_purchases import (
    AutoRechargeRule,
    CreditPurchase,
    PurchaseSource,
    PurchaseStatus,
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
from invoicing.models.tax import TaxRate, TaxRateAssignment

__all__ = [
    "Alert",
    "AlertDirtyCustomer",
    "AlertOwner",
    "AlertTrigger",
    "AlertType",
    "AutoRechargeRule",
    "BillingRun",
    "BillingRunStatus",
    "BillingRunTrigger",
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
    "CreditPurchase",
    "DifferenceKind",
    "Discount",
    "DiscountDuration",
    "DiscountKind",
    "DunningOutcome",
    "DunningStep",
    "DunningStepKind",
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
    "PurchaseSource",
    "PurchaseStatus",
    "RateOverride",
    "ReconciliationDifference",
    "ReconciliationRun",
    "Reservation",
    "ReservationStatus",
    "Reset",
    "RunStatus",
    "SpendCap",
    "StripeInvoice",
    "StripePaymentMethod",
    "StripeWebhookEvent",
    "TaxRate",
    "TaxRateAssignment",
    "WebhookStatus",
]
