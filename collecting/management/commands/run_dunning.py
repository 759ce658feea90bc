from datetime import date

from django.core.management.base import CommandError

from collecting.services.dunning import dunning_run
from o2c.commands import TenantCommand
from o2c.errors import DomainError


class Command(TenantCommand):
    help = (
        "Run one organization's dunning up to a date (default its today), catching "
        "up missed days. Safe to run twice: a completed day is not run again."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--date", help="YYYY-MM-DD (default: today, local time)")

    def handle_tenant(self, organization, **options):
        target = None
        if options.get("date"):
            try:
                target = date.fromisoformat(options["date"])
            except ValueError:
                raise CommandError(
                    f"--date {options['date']!r} is not YYYY-MM-DD."
                ) from None
        try:
            runs = dunning_run(target_date=target)
        except DomainError as error:
            raise CommandError(error.message) from None
        for run in runs:
            self.stdout.write(
                f"{run.run_date.isoformat()}: {run.status}, "
                f"{run.notices_created} notices for {run.invoices_noticed} invoices"
            )
