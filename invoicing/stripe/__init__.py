"""Stripe integration (issue 5; docs/stripe-testing.md).

``gateway`` is the only module that imports the ``stripe`` SDK (typed calls, idempotency keys
required, one error type). SDK-free helpers: ``errors`` (``StripeGatewayError``), ``keys``
(``idempotency_key``), ``config`` (``GatewayConfig``), ``params`` (value encoding),
``signatures`` (webhook signature verification with several secrets), ``events`` (event parsing
and the per-app handler registry), ``metrics``. This package imports nothing itself, so
verifying a webhook does not load the SDK.
"""
