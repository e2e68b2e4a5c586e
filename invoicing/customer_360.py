"""Registers invoicing's Customer 360 sections and search providers (autodiscovered by
``accounts.customer360.registry``)."""

from accounts.customer360.registry import register_section
from accounts.customer360.search import register_customer_search
from invoicing.backoffice import sections

register_section(
    "invoicing.contracts",
    "Contract and amendments",
    sections.contracts,
    template="admin/customer_360/contracts.html",
    order=20,
    permissions=["invoicing.view_contract"],
)
register_section(
    "invoicing.usage",
    "Usage this period",
    sections.usage,
    template="admin/customer_360/usage.html",
    order=30,
    permissions=["invoicing.view_invoice", "metering.view_meter"],
)
register_section(
    "invoicing.invoices",
    "Invoices",
    sections.invoices,
    template="admin/customer_360/invoices.html",
    order=40,
    permissions=["invoicing.view_invoice"],
)
register_section(
    "invoicing.payments",
    "Payments",
    sections.payments,
    template="admin/customer_360/payments.html",
    order=45,
    permissions=["invoicing.view_payment"],
)
register_section(
    "invoicing.credits",
    "Credit ledger",
    sections.credits,
    template="admin/customer_360/credits.html",
    order=50,
    permissions=["invoicing.view_creditgrant"],
)
register_section(
    "invoicing.credit_purchases",
    "Credit purchases",
    sections.credit_purchases,
    template="admin/customer_360/credit_purchases.html",
    order=52,
    permissions=["invoicing.view_creditpurchase"],
)
register_customer_search("invoicing.invoice_number", sections.by_invoice_number)
register_customer_search("invoicing.stripe_ids", sections.by_stripe_ids)
register_section(
    "invoicing.collections",
    "Collections",
    sections.collections,
    template="admin/customer_360/collections.html",
    order=47,
    permissions=["invoicing.view_dunningstep"],
)
