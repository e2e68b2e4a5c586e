"""Seed a believable demo company. Re-runnable: every app's seed is idempotent."""

import importlib

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction


class Command(BaseCommand):
    help = "Seed demo data (customers, staff logins, meters, usage...). Safe to run again."

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        # Every installed app's demo.py, found like check_invariants finds invariants.py, in
        # INSTALLED_APPS order, which is the dependency order accounts <- metering <- ...
        for config in apps.get_app_configs():
            try:
                module = importlib.import_module(f"{config.name}.demo")
            except ModuleNotFoundError as exc:
                if exc.name != f"{config.name}.demo":
                    raise
                continue
            self.stdout.write(f"Seeding {config.label}...")
            with transaction.atomic():
                module.seed(self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
