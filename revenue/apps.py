from django.apps import AppConfig


class RevenueConfig(AppConfig):
    name = "revenue"
    verbose_name = "Revenue recognition"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Import the Celery tasks; the revenue app finds its work by querying the apps below
        it (sources without journal entries), so nothing below imports revenue."""
        from revenue import tasks  # noqa: F401  (registers the Celery tasks)
