import time

from collecting.prediction.services import predictions_refresh
from o2c.commands import TenantCommand


class Command(TenantCommand):
    help = (
        "Train one organization's payment-date prediction now (as the nightly task "
        "does), publish the model or the baseline, and score its open invoices."
    )

    def handle_tenant(self, organization, **options):
        started = time.perf_counter()
        record = predictions_refresh()
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"{organization.slug}: {record.get_kind_display()} serves "
            f"({record.get_reason_display()}), {record.settled_invoices} settled "
            f"invoices, {record.predictions_count} open invoices scored in "
            f"{elapsed:.1f} s"
        )
        for name, figures in record.metrics.items():
            self.stdout.write(f"  {name}: {figures}")
