from django.apps import AppConfig


class RevenueConfig(AppConfig):
    name = "revenue"
    verbose_name = "Revenue recognition"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Import the Celery tasks; the revenue app finds its work by querying the apps below
        it (sources without journal entries), so nothing below imports revenue."""
        from billingsite.finance import DEFERRED_REVENUE, register_finance_section
        from revenue import exports, tasks  # noqa: F401  (tasks: registers the Celery tasks)
        from revenue.finance import deferred_revenue_tables

        exports.register()  # the journal_entries export dataset
        register_finance_section(
            DEFERRED_REVENUE,
            "Deferred revenue",
            deferred_revenue_tables,
            explanation="From the journal's month close: opening + billed - recognized = "
            "closing, per currency, for the last six months.",
        )
