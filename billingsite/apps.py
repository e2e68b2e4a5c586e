from django.apps import AppConfig


class BillingsiteConfig(AppConfig):
    name = "billingsite"
    verbose_name = "Tally"
