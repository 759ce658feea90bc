import time
from datetime import date

from django.core.management.base import CommandError

from collecting.prediction.features import load_history
from collecting.prediction.services import backtest
from o2c.commands import TenantCommand

LABELS = (
    ("model", "Model (LightGBM quantiles)"),
    ("model_censored", "Model, open & late as bounds"),
    ("customer_median", "Baseline: customer median"),
    ("due_date", "Baseline: due date"),
)


class Command(TenantCommand):
    help = (
        "Time-split backtest of payment-date prediction: train on invoices settled "
        "before --split-date, score the invoices issued from that day on (settled "
        "by the end of the data) as of their invoice dates, and print mean absolute "
        "error in days, share within 3 and 7 days and 80 % interval coverage for "
        "the model and both baselines."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--split-date", required=True, help="YYYY-MM-DD")

    def handle_tenant(self, organization, **options):
        try:
            split = date.fromisoformat(options["split_date"])
        except ValueError:
            raise CommandError("--split-date must be YYYY-MM-DD.") from None
        started = time.perf_counter()
        history = load_history()
        loaded = time.perf_counter()
        figures = backtest(history, split=split)
        finished = time.perf_counter()
        self.stdout.write(
            f"{organization.slug}: split {split.isoformat()}, trained on "
            f"{figures['trained_on']} invoices settled before it, tested on "
            f"{figures['tested']} issued from it and settled since "
            f"(scored as of their invoice dates); {figures['still_open']} issued "
            f"from it are still open and not scored"
        )
        self.stdout.write(
            f"{'':30} {'MAE days':>9} {'±3 days':>8} {'±7 days':>8} {'80% int.':>9}"
        )
        for key, label in LABELS:
            row = figures.get(key)
            if row is None:
                self.stdout.write(f"{label:30} not trained (too few settled invoices)")
                continue
            if not row["count"]:
                self.stdout.write(f"{label:30} nothing to test")
                continue
            coverage = "-" if key == "due_date" else f"{row['interval_coverage']:.1%}"
            self.stdout.write(
                f"{label:30} {row['mae_days']:>9.2f} {row['within_3_days']:>8.1%} "
                f"{row['within_7_days']:>8.1%} {coverage:>9}"
            )
        if "censored" in figures:
            self.stdout.write(
                f"({figures['censored']} invoices were open and late on the split "
                "day: left out of training, as every night; the second model "
                "learns from them too, their lateness so far as a lower bound)"
            )
        self.stdout.write(
            f"loading {loaded - started:.1f} s ({len(history)} invoices), "
            f"training and scoring {finished - loaded:.1f} s"
        )
