"""The Stripe wing of invoicing (issue 5, issue 13; docs/stripe-testing.md, docs/stripe-sync.md).

``gateway`` is the only module that imports the ``stripe`` SDK (typed calls, idempotency keys
required, one error type). SDK-free helpers: ``errors`` (``StripeGatewayError``), ``keys``
(``idempotency_key``), ``config`` (``GatewayConfig``), ``params`` (value encoding),
``signatures`` (webhook signature verification with several secrets), ``events`` (event parsing
and the per-app handler registry), ``metrics``.

What Tally does with Stripe: ``customers`` (customer sync, payment methods, update links),
``invoice_push`` and ``invoice_items`` (a finalized invoice becomes a Stripe invoice),
``mirror`` (apply Stripe's invoices, payment intents and charges to our mirror rows),
``inbox`` and ``webhook_view``/``urls`` (the webhook inbox), ``event_handlers`` (which event
types move which mirror), ``reconciliation``, ``admin``, ``tasks``. This package imports
nothing itself, so verifying a webhook does not load the SDK.
"""
