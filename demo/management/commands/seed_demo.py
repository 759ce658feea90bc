from django.core.management.base import BaseCommand, CommandError

from demo.data import COMPANY, PASSWORD
from demo.services import seed_demo


class Command(BaseCommand):
    help = (
        "Create a demo company with a realistic receivables history ending today "
        "(or do nothing if it exists; --reset recreates it)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", default="demo", help="Organization slug.")
        parser.add_argument("--name", default=COMPANY["name"])
        parser.add_argument("--customers", type=int, default=500)
        parser.add_argument("--months", type=int, default=18)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument(
            "--without-collections",
            action="store_true",
            help="No dunning policy and no collection history (invoices, payments "
            "and credit notes only).",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete the organization and all its data first.",
        )

    def _progress(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()  # long seeds report as they go, also into a log file

    def handle(self, *args, **options):
        if options["customers"] < 1 or options["months"] < 1:
            raise CommandError("--customers and --months must be at least 1.")
        result = seed_demo(
            slug=options["org"],
            name=options["name"],
            customers=options["customers"],
            months=options["months"],
            seed=options["seed"],
            reset=options["reset"],
            collection_history=not options["without_collections"],
            progress=self._progress,
        )
        if result is None:
            self.stdout.write(
                f"Organization '{options['org']}' exists; nothing to do "
                "(use --reset to recreate it)."
            )
            return
        counts = result.counts
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {result.organization.name} in {result.seconds:.1f} s "
                f"({result.invoices_per_second:,.0f} invoices/s)."
            )
        )
        self.stdout.write(
            "  "
            + ", ".join(
                f"{value:,} {key.replace('_', ' ')}" for key, value in counts.items()
            )
        )
        for currency, amount in result.open_by_currency.items():
            unapplied = result.unapplied_by_currency.get(currency, 0)
            self.stdout.write(
                f"  {currency}: {amount:,} open on invoices, "
                f"{unapplied:,} unapplied cash"
            )
        self.stdout.write("Log in with (password for all: " + PASSWORD + "):")
        for email, role in result.logins:
            self.stdout.write(f"  {email:<40} {role}")
        if result.portal_links:
            self.stdout.write("The customer portal, as these customers see it:")
            for customer, link in result.portal_links:
                self.stdout.write(f"  {customer:<40} {link}")
