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

        from django.db.models.signals import post_delete

        from accounts.models import ApiKey

        # A deleted key (or a deleted customer's keys) must not live on in the lookup cache.
        post_delete.connect(_forget_deleted_api_key, sender=ApiKey, dispatch_uid="accounts.key")


def _forget_deleted_api_key(sender: object, instance: object, **kwargs: object) -> None:
    from django.db import transaction

    from accounts.api_key_cache import forget_api_key

    digest = getattr(instance, "digest", "")
    transaction.on_commit(lambda: forget_api_key(digest))
