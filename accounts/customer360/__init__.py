"""Customer 360 in the back office: one page with everything about a customer.

The page is a list of **sections** from a registry (``registry.register_section``), so each
app adds what it owns without accounts importing it: accounts adds profile, contacts and
notes, usage-page access and the audit history (``accounts/customer_360.py``); invoicing adds
contract and amendments, usage, invoices, payments and credits (``invoicing/customer_360.py``);
disputes adds refunds and disputes the same way. Every app's ``customer_360`` module is
imported once by ``registry.autodiscover()``.

Support's search is a registry too (``search.register_customer_search``): each app maps a
term to customer ids (invoice numbers, Stripe ids, ...); the customer list's search box and
the 360 search use them all.
"""
