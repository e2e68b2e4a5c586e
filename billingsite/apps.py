from django.apps import AppConfig


class BillingsiteConfig(AppConfig):
    name = "billingsite"
    verbose_name = "Tally"

    def ready(self) -> None:
        from billingsite import admin_display, dashboard
        from billingsite.invariant_runs import dashboard as invariant_runs_dashboard
        from billingsite.invariant_runs.services import invariant_gauges
        from billingsite.observability import register_db_gauges
        from billingsite.outbox.metrics import outbox_gauges
        from billingsite.queue_metrics import celery_queue_gauges
        from billingsite.webhooks import dashboard as webhooks_dashboard
        from billingsite.webhooks.registry import register as register_webhooks

        register_db_gauges(outbox_gauges)
        register_db_gauges(invariant_gauges)
        register_db_gauges(celery_queue_gauges)
        dashboard.on_autodiscover(invariant_runs_dashboard.register)
        dashboard.on_autodiscover(webhooks_dashboard.register)
        register_webhooks()
        # After django-money's own admin hook (djmoney is installed before this app).
        admin_display.install()
