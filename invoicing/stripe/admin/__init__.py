"""Admin for the Stripe wing: mirrors of Stripe objects and the webhook inbox (``objects``),
Stripe on the customer page (``customers``), reconciliation runs (``reconciliation``)."""

from invoicing.stripe.admin import customers, objects, reconciliation  # noqa: F401  (registers)
