import time

from django.core.management.base import CommandError

from o2c.commands import TenantCommand
from reports.services import forecast_snapshots_backfill


class Command(TenantCommand):
    help = (
        "Reconstruct the weekly cash forecasts of the past Mondays, each as it "
        "would have been made that day from what was known then (open amounts from "
        "the ledger, promises and disputes open then, the prediction trained on the "
        "invoices settled before it), so the accuracy page can score them. Mondays "
        "whose forecast was kept as made are left alone."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--weeks", type=int, default=26)
        parser.add_argument(
            "--baseline-only",
            action="store_true",
            help="Use the customer median as of each Monday instead of training "
            "the prediction for each (faster on a large history).",
        )

    def handle_tenant(self, organization, **options):
        if not 1 <= options["weeks"] <= 260:
            raise CommandError("--weeks must be between 1 and 260.")
        started = time.perf_counter()

        def progress(monday, kind, forecast):
            totals = ", ".join(
                f"{currency} {sum(amounts):,}" for currency, amounts in forecast.items()
            )
            self.stdout.write(f"  {monday.isoformat()} ({kind}): {totals or '-'}")
            self.stdout.flush()

        result = forecast_snapshots_backfill(
            weeks=options["weeks"],
            baseline_only=options["baseline_only"],
            progress=progress,
        )
        self.stdout.write(
            f"{organization.slug}: {len(result.mondays)} Mondays reconstructed "
            f"({result.rows} rows; the trained model served on {result.model_weeks}), "
            f"{result.kept_as_made} kept as made left alone, "
            f"in {time.perf_counter() - started:.1f} s"
        )
