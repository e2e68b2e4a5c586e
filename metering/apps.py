from django.apps import AppConfig


class MeteringConfig(AppConfig):
    name = "metering"
    verbose_name = "Metering"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from billingsite.observability import register_db_gauges, register_stall_check
        from metering import signals  # noqa: F401  (connects receivers)
        from metering.compat import register_translators
        from metering.eventlog.health import eventlog_gauges
        from metering.ingest.store import stage_on_connect
        from metering.metrics import metering_gauges, rollup_stall_warning
        from metering.stores import columnar

        connection_created.connect(stage_on_connect, dispatch_uid="metering-ingest-stage")
        register_db_gauges(metering_gauges)
        register_db_gauges(eventlog_gauges)
        register_stall_check(rollup_stall_warning)
        register_translators()
        columnar.register()
