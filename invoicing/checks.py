"""Invariants of invoices and the ledger, checked in the database."""

from collections.abc import Iterator
from decimal import Decimal

from django.db.models import F, OuterRef, Q, Subquery, Sum, Window
from django.db.models.functions import Coalesce, Round

from invoicing.models import Invoice, LedgerEntry
from invoicing.status import fees_charged_sql, payment_status_sql
from o2c.money import minor_units

# At most this many problems are listed per check: enough to start a diagnosis
# without flooding the output of a badly broken ledger.
LIMIT = 20
# SQLite sums decimals as floats (0.30 - 0.10 - 0.20 gives -2.8e-17 there). Every
# amount has at most MONEY's 3 decimals, so rounding a sum to 3 places gives the
# exact total on SQLite and changes nothing on PostgreSQL.
MONEY_PLACES = Invoice._meta.get_field("open_amount").decimal_places


def exact_sum(expression):
    return Round(expression, precision=MONEY_PLACES)


def as_money_column(value) -> Decimal:
    """A computed sum shown like a stored amount (SQLite returns 0.100000000000000)."""
    return Decimal(value).quantize(Decimal(1).scaleb(-MONEY_PLACES))


def check_invoices() -> Iterator[str]:
    yield from _open_amounts_match_ledger()
    yield from _statuses_derived()
    yield from _entries_agree_with_invoice()
    yield from _amounts_exact()
    yield from _reversals_mirror_originals()
    yield from _history_never_negative()


def _open_amounts_match_ledger():
    ledger_sum = (
        LedgerEntry.objects.filter(invoice=OuterRef("pk"))
        .values("invoice")
        .annotate(total=exact_sum(Sum("amount")))
        .values("total")
    )
    mismatched = (
        Invoice.objects.annotate(
            ledger=Coalesce(
                Subquery(ledger_sum),
                0,
                output_field=Invoice._meta.get_field("open_amount"),
            )
        )
        .exclude(open_amount=F("ledger"))
        .values_list("pk", "number", "open_amount", "ledger")
    )
    for pk, number, cached, ledger in mismatched[:LIMIT]:
        yield (
            f"invoice {number or pk}: open_amount {cached} but ledger says "
            f"{as_money_column(ledger)}"
        )


def _statuses_derived():
    wrong = (
        Invoice.objects.filter(status__in=Invoice.ISSUED)
        .annotate(fees=fees_charged_sql(), derived=payment_status_sql())
        .exclude(status=F("derived"))
        .values_list("number", "status", "open_amount", "total", "fees", "derived")
    )
    for number, status, open_amount, total, fees, derived in wrong[:LIMIT]:
        charged = f"{total}" if not fees else f"{total} + fees {as_money_column(fees)}"
        yield (
            f"invoice {number}: status {status} but open amount "
            f"{open_amount} of {charged} means {derived}"
        )


def _entries_agree_with_invoice():
    bad = LedgerEntry.objects.filter(invoice__isnull=False).filter(
        ~Q(currency=F("invoice__currency")) | ~Q(customer=F("invoice__customer"))
    )
    for entry in bad.values_list("pk", "invoice_id")[:LIMIT]:
        yield f"ledger entry {entry[0]}: currency or customer differs from invoice"


def _amounts_exact():
    for currency in LedgerEntry.objects.values_list("currency", flat=True).distinct():
        inexact = LedgerEntry.objects.filter(currency=currency).exclude(
            amount=Round("amount", precision=minor_units(currency))
        )
        for pk in inexact.values_list("pk", flat=True)[:LIMIT]:
            yield f"ledger entry {pk}: amount not exact in {currency}"


def _reversals_mirror_originals():
    bad = LedgerEntry.objects.filter(reverses__isnull=False).exclude(
        amount=-F("reverses__amount")
    )
    for pk in bad.values_list("pk", flat=True)[:LIMIT]:
        yield f"ledger entry {pk}: reversal amount is not the original's opposite"


def _history_never_negative():
    running = (
        LedgerEntry.objects.filter(invoice__isnull=False)
        .annotate(
            running=exact_sum(
                Window(
                    Sum("amount"),
                    partition_by=[F("invoice_id")],
                    order_by=[F("posting_date").asc()],
                )
            )
        )
        .filter(running__lt=0)
    )
    for entry in running.values("invoice_id", "posting_date", "running")[:LIMIT]:
        yield (
            f"invoice id {entry['invoice_id']}: balance "
            f"{as_money_column(entry['running'])} as of "
            f"{entry['posting_date']}"
        )
