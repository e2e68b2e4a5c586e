from django.core.management.base import BaseCommand, CommandError

from accounts.roles import ROLE_BY_SLUG
from accounts.services import staff_user_create
from billingsite.errors import AppError


class Command(BaseCommand):
    help = "Create (or update) a staff user in one role: support, finance or admin."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--username", required=True)
        parser.add_argument("--role", required=True, choices=sorted(ROLE_BY_SLUG))
        parser.add_argument("--password", required=True)
        parser.add_argument("--email", default="")

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        try:
            user = staff_user_create(
                username=opts["username"],
                role=opts["role"],
                password=opts["password"],
                email=opts["email"],
            )
        except AppError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Staff user {user.username!r} is in role {opts['role']}.")
