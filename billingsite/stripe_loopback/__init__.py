"""localstripe on loopback with the parts of Stripe Tally needs added (idempotency, invoices
without subscriptions, refund reasons): the test suite's Stripe, and the demo's under
``bin/tally run``. Never used by a real deployment. See docs/stripe-testing.md."""
