from django.apps import AppConfig


class ReportingConfig(AppConfig):
    name = "reporting"
    verbose_name = "Reporting and exports"

    def ready(self) -> None:
        """Register the built-in export datasets (``billingsite.exports``) and the Celery
        tasks. Apps below reporting register their own datasets from their own ``ready()``."""
        from reporting import tasks  # noqa: F401  (registers the Celery tasks)
        from reporting.datasets import register_builtin

        register_builtin()
