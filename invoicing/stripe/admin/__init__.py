"""Admin for the Stripe wing: mirrors of Stripe objects and the webhook inbox (``objects``),
Stripe on the customer page (``customers``: registered from ``InvoicingConfig.ready()``),
reconciliation runs (``reconciliation``)."""

from invoicing.stripe.admin import objects, reconciliation  # noqa: F401  (registers)
