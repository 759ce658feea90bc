"""Invariants of invoices and the ledger, checked in the database."""

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, Subquery, Sum, Window
from django.db.models.functions import Coalesce, Round

from invoicing.models import Invoice, LedgerEntry, ReceivablesSummary
from invoicing.status import fees_charged_sql, payment_status_sql
from o2c.money import minor_units
from o2c.tenancy import current_organization

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
    yield from _summary_matches_ledger()


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


def _summary_matches_ledger():
    """Each receivables summary row holds its customer's ledger sums in its
    currency, and the overdue figure and due dates of the invoices the ledger
    says are open, as of today (a row whose figure has expired, waiting for a
    reader's refresh: the sums and the oldest due date only); every customer and
    currency with ledger entries has a row."""
    organization = current_organization()
    today = organization.today()
    quote = connection.ops.quote_name
    summary, ledger, invoices = (
        quote(model._meta.db_table)
        for model in (ReceivablesSummary, LedgerEntry, Invoice)
    )
    # Computed here from the ledger alone (invoices give their due dates), not
    # by the statements that keep the summary, so that a fault in those shows.
    sql = (
        "SELECT s.customer_id, s.currency, s.balance, s.invoices_open, "
        "s.unapplied_cash, s.overdue, s.oldest_due_date, s.next_due_date, "
        "l.balance, l.invoices_open, l.unapplied_cash, "
        "o.overdue, o.oldest_due_date, o.next_due_date "
        f"FROM {summary} s LEFT JOIN (SELECT customer_id, currency, "
        "SUM(amount) AS balance, "
        "SUM(CASE WHEN invoice_id IS NULL THEN 0 ELSE amount END) AS invoices_open, "
        "SUM(CASE WHEN invoice_id IS NULL THEN -amount ELSE 0 END) "
        f"AS unapplied_cash FROM {ledger} WHERE organization_id = %s "
        "GROUP BY customer_id, currency) l "
        "ON l.customer_id = s.customer_id AND l.currency = s.currency "
        "LEFT JOIN (SELECT customer_id, currency, "
        "SUM(CASE WHEN due_date < %s THEN open_amount ELSE 0 END) AS overdue, "
        "MIN(due_date) AS oldest_due_date, "
        "MIN(CASE WHEN due_date >= %s THEN due_date END) AS next_due_date "
        "FROM (SELECT i.customer_id AS customer_id, i.currency AS currency, "
        "i.due_date AS due_date, SUM(e.amount) AS open_amount "
        f"FROM {ledger} e JOIN {invoices} i ON i.id = e.invoice_id "
        "WHERE e.organization_id = %s "
        "GROUP BY i.id, i.customer_id, i.currency, i.due_date "
        f"HAVING ROUND(SUM(e.amount), {MONEY_PLACES}) > 0) open_invoices "
        "GROUP BY customer_id, currency) o "
        "ON o.customer_id = s.customer_id AND o.currency = s.currency "
        "WHERE s.organization_id = %s ORDER BY s.customer_id, s.currency"
    )
    params = [organization.pk, today, today, organization.pk, organization.pk]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    found = 0
    for row in rows:
        for problem in _summary_row_problems(row, today):
            yield problem
            found += 1
            if found >= LIMIT:
                return
    missing = (
        LedgerEntry.objects.filter(
            ~Exists(
                ReceivablesSummary.objects.filter(
                    customer_id=OuterRef("customer_id"), currency=OuterRef("currency")
                )
            )
        )
        .values_list("customer_id", "currency")
        .distinct()
    )
    for customer_id, currency in missing[:LIMIT]:
        yield f"customer id {customer_id}: no receivables summary in {currency}"


def _summary_row_problems(row, today):
    customer_id, currency, *kept = row[:8]
    ledger, open_invoices = row[8:11], row[11:14]
    balance, invoices_open, unapplied, overdue, oldest, next_due = kept
    dates = [_as_date(value) for value in (oldest, next_due, *open_invoices[1:])]
    oldest, next_due, oldest_open, next_open = dates
    expected = [
        ("balance", balance, ledger[0]),
        ("open on invoices", invoices_open, ledger[1]),
        ("unapplied cash", unapplied, ledger[2]),
    ]
    name = f"customer id {customer_id}, {currency}"
    for label, value, computed in expected:
        if as_money_column(value) != as_money_column(computed or 0):
            yield (
                f"{name}: summary {label} {as_money_column(value)} but the ledger "
                f"says {as_money_column(computed or 0)}"
            )
    if oldest != oldest_open:
        yield (
            f"{name}: summary oldest due date {oldest} but open invoices say "
            f"{oldest_open}"
        )
    if next_due is not None and next_due < today:
        return  # expired: the next reader refreshes it
    if as_money_column(overdue) != as_money_column(open_invoices[0] or 0):
        yield (
            f"{name}: summary overdue {as_money_column(overdue)} but open invoices "
            f"say {as_money_column(open_invoices[0] or 0)}"
        )
    if next_due != next_open:
        yield (
            f"{name}: summary next due date {next_due} but open invoices say "
            f"{next_open}"
        )


def _as_date(value):
    """A date column read raw (SQLite returns text)."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
