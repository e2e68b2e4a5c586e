from django.apps import AppConfig


class DisputesConfig(AppConfig):
    name = "disputes"
    verbose_name = "Refunds and disputes"

    def ready(self) -> None:
        """Register with invoicing's registries (outbox topics, webhook handlers,
        reconciliation sources) so invoicing never imports disputes."""
        from disputes import (
            admin_links,
            tasks,  # noqa: F401  (registers the Celery tasks)
        )
        from disputes.services import disputes, reconciliation, refund_sync

        admin_links.register()
        refund_sync.register()
        disputes.register()
        reconciliation.register()
