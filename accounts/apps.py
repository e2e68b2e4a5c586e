from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from accounts.api import tasks  # noqa: F401  (registers the idempotency prune task)
        from accounts.attempts import check_limit_settings
        from accounts.roles import ADMIN, FINANCE, SUPPORT, sync_roles_after_migrate
        from billingsite.dashboard import set_roles

        set_roles((SUPPORT, FINANCE, ADMIN), admin=ADMIN)  # the admin home's desks, in order
        check_limit_settings()  # a malformed limit stops the process at start, not at sign-in

        # Later apps add models after the roles migration ran: keep the groups complete.
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="accounts.sync_roles")
