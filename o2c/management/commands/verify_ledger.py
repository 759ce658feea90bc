from django.core.management.base import BaseCommand, CommandError

from o2c.checks import run_ledger_checks
from o2c.commands import find_organization
from o2c.models import Organization
from o2c.tenancy import tenant_context


class Command(BaseCommand):
    help = (
        "Check the receivables ledger against invoices' open amounts, statuses and "
        "payments' unapplied cash. Exits non-zero on any disagreement."
    )

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--org", help="Organization slug or id.")
        target.add_argument(
            "--all", action="store_true", help="Every organization, one at a time."
        )

    def handle(self, *args, **options):
        if options["all"]:
            organizations = list(Organization.objects.order_by("pk"))
        else:
            organizations = [find_organization(options["org"])]
        failures = 0
        for organization in organizations:
            with tenant_context(organization):
                problems = run_ledger_checks()
            for problem in problems:
                self.stderr.write(f"{organization.slug}: {problem}")
            failures += len(problems)
            if not problems:
                self.stdout.write(f"{organization.slug}: ledger consistent")
        if failures:
            raise CommandError(
                f"{failures} ledger problem(s) listed (at most 20 per check)."
            )
