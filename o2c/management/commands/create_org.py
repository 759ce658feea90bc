from django.core.management.base import BaseCommand, CommandError

from o2c.errors import DomainError
from o2c.services import organization_create


class Command(BaseCommand):
    help = "Create an organization (tenant) with its first admin user."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--slug", required=True)
        parser.add_argument("--admin-email", required=True)
        parser.add_argument("--admin-password", required=True)
        parser.add_argument("--currency", default="EUR")
        parser.add_argument("--timezone", default="UTC")

    def handle(self, *args, **options):
        try:
            organization, user = organization_create(
                name=options["name"],
                slug=options["slug"],
                base_currency=options["currency"],
                timezone=options["timezone"],
                admin_email=options["admin_email"],
                admin_password=options["admin_password"],
            )
        except DomainError as error:
            raise CommandError(f"{error.field or 'error'}: {error.message}") from None
        self.stdout.write(
            f"Created {organization.name} ({organization.slug}); admin {user.email}"
        )
