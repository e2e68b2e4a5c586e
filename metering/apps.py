from django.apps import AppConfig


class MeteringConfig(AppConfig):
    name = "metering"
    verbose_name = "Metering"

    def ready(self) -> None:
        from billingsite.observability import register_db_gauges, register_stall_check
        from metering import signals  # noqa: F401  (connects receivers)
        from metering.compat import register_translators
        from metering.eventlog.health import eventlog_gauges
        from metering.metrics import metering_gauges, rollup_stall_warning
        from metering.stores import columnar

        register_db_gauges(metering_gauges)
        register_db_gauges(eventlog_gauges)
        register_stall_check(rollup_stall_warning)
        register_translators()
        columnar.register()
