"""Base for management commands that act for one organization (``--org``)."""

from django.core.management.base import BaseCommand, CommandError

from o2c.models import Organization
from o2c.tenancy import tenant_context


class TenantCommand(BaseCommand):
    """``handle_tenant(organization, **options)`` runs inside the organization."""

    def add_arguments(self, parser):
        parser.add_argument(
            "--org", required=True, help="Organization slug (or id) to act for."
        )

    def handle(self, *args, **options):
        organization = find_organization(options["org"])
        with tenant_context(organization):
            return self.handle_tenant(organization, **options)

    def handle_tenant(self, organization, **options):
        raise NotImplementedError


def find_organization(key: str) -> Organization:
    organization = Organization.objects.filter(slug=key).first()
    if organization is None and str(key).isdigit():
        organization = Organization.objects.filter(pk=int(key)).first()
    if organization is None:
        raise CommandError(f"No organization '{key}'.")
    return organization
