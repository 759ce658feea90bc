"""Create an API key for an organization, for provisioning without a browser.

    python manage.py create_api_key --org acme --name "ERP export" --role finance

The key is printed alone on standard output (for a script to capture) and is never
shown again; the audit trail records who made it ("command line").
"""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.core.management.base import CommandError
from django.utils import timezone

from o2c.commands import TenantCommand
from o2c.errors import DomainError
from o2c.keys import api_key_create
from o2c.models import Role
from o2c.services import Actor


class Command(TenantCommand):
    help = "Create an API key for an organization; prints the key once."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--name", required=True, help="The integration using it.")
        parser.add_argument("--role", choices=Role.values, default=Role.FINANCE)
        parser.add_argument(
            "--expires", help="Last day the key works (YYYY-MM-DD); default never."
        )

    def handle_tenant(self, organization, **options):
        expiry = None
        if options["expires"]:
            try:
                day = date.fromisoformat(options["expires"])
            except ValueError:
                raise CommandError("--expires: give a date as YYYY-MM-DD.") from None
            # the end of that day where the organization is
            local = ZoneInfo(organization.timezone)
            expiry = timezone.make_aware(datetime.combine(day, time.max), local)
        actor = Actor(label="command line", role=Role.ADMIN)
        try:
            api_key, key = api_key_create(
                name=options["name"],
                role=options["role"],
                expiry_date=expiry,
                actor=actor,
            )
        except DomainError as error:
            raise CommandError(f"{error.field or 'error'}: {error.message}") from None
        self.stderr.write(
            f"Created key '{api_key.name}' ({api_key.role}) for {organization.slug}; "
            "it is shown once:"
        )
        self.stdout.write(key)
