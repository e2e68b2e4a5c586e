"""Bring the demo's customers, invoices and payments onto the loopback Stripe (bin/tally run)."""

from django.core.management.base import BaseCommand

from invoicing.demo_stripe_live import seed_stripe_live


class Command(BaseCommand):
    help = "Demo only: sync the seeded customers and invoices with the loopback Stripe."

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        seed_stripe_live(self.stdout)
