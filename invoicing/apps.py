from django.apps import AppConfig


class InvoicingConfig(AppConfig):
    name = "invoicing"
    verbose_name = "Invoicing"

    def ready(self) -> None:
        # Metering marks events that arrive after their period was invoiced as late; it asks
        # invoicing (the layer above it) through this resolver rather than importing it.
        from billingsite.observability import register_db_gauges
        from invoicing.metrics import invoicing_gauges
        from invoicing.selectors.invoices import closed_through
        from metering.late import register_closed_period_resolver

        register_closed_period_resolver(closed_through)
        register_db_gauges(invoicing_gauges)
        self._register_alerts()
        self._register_stripe()
        self._register_collections()

    def _register_collections(self) -> None:
        """Outbox handlers of collections: payment retries (Stripe wing) and reminder emails."""
        from invoicing.collections import emails
        from invoicing.stripe import collections

        emails.register()
        collections.register()

    def _register_alerts(self) -> None:
        """Alerts: evaluate customers when the rollups apply their usage; email topic."""
        from invoicing.alerts import email, tasks  # noqa: F401  (registers the Celery tasks)
        from invoicing.alerts.queue import alerts_mark_dirty
        from metering.rollup_hooks import register_rollup_applied

        register_rollup_applied(alerts_mark_dirty)
        email.register()

    def _register_stripe(self) -> None:
        """Outbox handlers (invoice push, customer sync), webhook handlers, tasks, gauges."""
        from billingsite.observability import register_db_gauges
        from invoicing.stripe import (
            credit_purchases,
            customers,
            event_handlers,
            invoice_push,
            reconciliation,
            tasks,  # noqa: F401  (registers the Celery tasks)
        )
        from invoicing.stripe.admin import customers as customer_page
        from invoicing.stripe.gauges import stripe_gauges

        customers.register()
        credit_purchases.register()
        invoice_push.register()
        event_handlers.register()
        reconciliation.register()
        customer_page.register()
        register_db_gauges(stripe_gauges)
