from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from accounts.models import ApiKeyScope, Customer
from accounts.services import api_key_create


class Command(BaseCommand):
    help = (
        "Issue an API key. The key is printed once, alone on the last line; only its hash is kept."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--name", required=True)
        parser.add_argument("--scope", required=True, choices=ApiKeyScope.values)
        parser.add_argument("--customer", help="external id of the customer to bind the key to")
        parser.add_argument(
            "--created-by",
            help="username of the staff user the key acts for (its permissions and audit name)",
        )

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        customer = None
        if opts["customer"]:
            customer = Customer.objects.filter(external_id=opts["customer"]).first()
            if customer is None:
                raise CommandError(f"No customer with external id {opts['customer']!r}.")
        creator = None
        if opts.get("created_by"):
            creator = User.objects.filter(username=opts["created_by"], is_staff=True).first()
            if creator is None:
                raise CommandError(f"No staff user {opts['created_by']!r}.")
        issued = api_key_create(
            name=opts["name"], scope=opts["scope"], customer=customer, created_by=creator
        )
        bound = f", bound to {customer.external_id}" if customer else ""
        self.stderr.write(
            f"API key {issued.api_key.prefix} ({opts['scope']}{bound}). "
            "Store it now; it cannot be shown again."
        )
        self.stdout.write(issued.plaintext)
