"""Seed a believable demo company. Re-runnable: every app's seed is idempotent."""

import importlib

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction


class Command(BaseCommand):
    help = "Seed demo data (customers, staff logins, meters, usage...). Safe to run again."

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        # Apps seed in dependency order: accounts <- metering <- invoicing <- disputes.
        for label in ("accounts", "metering", "invoicing", "disputes"):
            if not apps.is_installed(label):
                continue
            try:
                module = importlib.import_module(f"{label}.demo")
            except ModuleNotFoundError:
                continue
            self.stdout.write(f"Seeding {label}...")
            with transaction.atomic():
                module.seed(self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
