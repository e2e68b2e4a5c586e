from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from accounts.attempts import check_limit_settings
        from accounts.roles import sync_roles_after_migrate

        check_limit_settings()  # a malformed limit stops the process at start, not at sign-in

        # Later apps add models after the roles migration ran: keep the groups complete.
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="accounts.sync_roles")
