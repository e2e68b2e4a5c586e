"""Customer entry to the usage pages: password sign-in, expiring signed links, sign-in log.

- ``services``: ``usage_link_create``, ``usage_link_revoke``, ``usage_sign_in_record``.
- ``access``: ``Viewer`` and ``usage_page`` (the decorator every usage page goes through: it
  resolves exactly one customer from the session's customer user or from a signed link, and
  nothing else), ``link_from_token``.
- ``views``/``urls``: the customers' sign-in page and password reset (Django's views, our
  templates under ``templates/usage/``), mounted at ``/usage/`` as namespace ``usage_auth``.
- ``api``: ``POST /api/v1/customers/{external_id}/usage-links``.
- ``selectors``: ``usage_sign_ins(customer, start=, end=)`` (dispute evidence: the customer's
  own entries, staff visits left out).

The pages themselves (costs, invoices) live in ``invoicing.usage_pages``: accounts is the
lower layer and never imports invoicing.
"""
