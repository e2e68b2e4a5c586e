"""Back-office pages of invoicing outside the ModelAdmins: "Explain this charge" (an invoice
line down to its usage, rollups and sample events) and invoicing's Customer 360 sections and
search providers (registered from ``invoicing/customer_360.py``)."""
