"""Stripe integration (issue 5). ``gateway`` is the only module that imports the ``stripe`` SDK;
``signatures`` verifies webhook signatures; ``errors`` holds the one error type; ``keys`` builds
idempotency keys from our rows. Import from the submodules (this package imports nothing, so
verifying a webhook does not load the SDK)."""
