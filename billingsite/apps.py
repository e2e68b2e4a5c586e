from django.apps import AppConfig


class BillingsiteConfig(AppConfig):
    name = "billingsite"
    verbose_name = "Tally"

    def ready(self) -> None:
        from billingsite.invariant_runs.services import invariant_gauges
        from billingsite.observability import register_db_gauges
        from billingsite.outbox.metrics import outbox_gauges
        from billingsite.queue_metrics import celery_queue_gauges
        from billingsite.webhooks.registry import register as register_webhooks

        register_db_gauges(outbox_gauges)
        register_db_gauges(invariant_gauges)
        register_db_gauges(celery_queue_gauges)
        register_webhooks()
