from django.core.management.base import CommandError

from collecting.models import DunningRun
from collecting.services.dunning import dunning_run
from o2c.commands import TenantCommand
from o2c.errors import DomainError


class Command(TenantCommand):
    help = (
        "Run one organization's dunning as of its today (local time). After missed "
        "days it writes one notice per customer and currency as of today and "
        "records the steps passed over. A second run the same day adds only what "
        "is new."
    )

    def handle_tenant(self, organization, **options):
        try:
            run = dunning_run(trigger=DunningRun.Trigger.MANUAL)
        except DomainError as error:
            raise CommandError(error.message) from None
        caught_up = (
            f", caught up from {run.caught_up_from.isoformat()} "
            f"({run.steps_passed_over} steps passed over)"
            if run.caught_up_from
            else ""
        )
        self.stdout.write(
            f"{run.run_date.isoformat()}: {run.status}, {run.notices_created} notices "
            f"for {run.invoices_noticed} invoices, {run.customers_held} customers "
            f"waiting for their interval{caught_up}"
        )
