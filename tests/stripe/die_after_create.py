"""Child process for tests/stripe/test_worker_death.py: run the outbox dispatcher and die
abruptly (``os._exit``, no cleanup, like SIGKILL) right after Stripe answered the invoice create,
before anything is recorded. Environment: DATABASE_URL (the test database), STRIPE_API_BASE,
STRIPE_API_KEY."""

from __future__ import annotations

import os
from typing import Any

import django

DIED = 17


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billingsite.settings")
    django.setup()
    import invoicing.stripe.invoice_push as stripe_invoices
    from billingsite.outbox.services import outbox_dispatch

    def die(*args: Any, **kwargs: Any) -> None:
        os._exit(DIED)

    stripe_invoices._link_record = die  # called right after the create call returned
    outbox_dispatch()


if __name__ == "__main__":
    main()
