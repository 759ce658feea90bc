"""Reads over invoices and the ledger. Balances as of any date are sums of entries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import (
    Count,
    F,
    Prefetch,
    Q,
    QuerySet,
    Sum,
    Window,
)

from invoicing.models import CreditNote, Invoice, LedgerEntry
from o2c.money import quantize
from o2c.tenancy import current_organization
from orders.models import Customer, SalesOrder
from orders.services.credit import Exposure


@dataclass(frozen=True)
class CustomerBalance:
    """One currency of a customer's account as of a date."""

    currency: str
    balance: Decimal  # invoices open minus cash on account
    invoices_open: Decimal
    unapplied_cash: Decimal
    overdue: Decimal


def customer_balances(
    *, customer: Customer, as_of: date | None = None
) -> list[CustomerBalance]:
    """The customer's balance per currency as of the end of ``as_of`` (default today).

    ``overdue`` counts invoices whose due date had passed on ``as_of`` with what was
    still open on that date.
    """
    as_of = as_of or current_organization().today()
    entries = LedgerEntry.objects.filter(customer=customer, posting_date__lte=as_of)
    # A set of the customer's past-due invoices rather than a join from every entry
    # to its invoice: the join costs one invoice lookup per ledger line.
    past_due = Invoice.objects.filter(customer=customer, due_date__lt=as_of)
    rows = entries.values("currency").annotate(
        balance=Sum("amount"),
        invoices_open=Sum("amount", filter=Q(invoice__isnull=False)),
        on_account=Sum("amount", filter=Q(invoice__isnull=True)),
        overdue=Sum("amount", filter=Q(invoice_id__in=past_due.values("pk"))),
    )
    return [
        CustomerBalance(
            currency=row["currency"],
            balance=quantize(row["balance"] or 0, row["currency"]),
            invoices_open=quantize(row["invoices_open"] or 0, row["currency"]),
            unapplied_cash=quantize(-(row["on_account"] or 0), row["currency"]),
            overdue=quantize(row["overdue"] or 0, row["currency"]),
        )
        for row in rows.order_by("currency")
    ]


def invoice_open_amount(*, invoice: Invoice, as_of: date | None = None) -> Decimal:
    """What was still open on ``invoice`` at the end of ``as_of``."""
    if as_of is None:
        return invoice.open_amount
    total = LedgerEntry.objects.filter(
        invoice=invoice, posting_date__lte=as_of
    ).aggregate(total=Sum("amount"))["total"]
    return quantize(total or 0, invoice.currency)


def overdue_invoices(*, as_of: date | None = None):
    as_of = as_of or current_organization().today()
    return Invoice.objects.filter(
        status__in=(Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID),
        due_date__lt=as_of,
    )


def customer_exposure(customer: Customer, currency: str) -> Exposure:
    """Open and overdue receivables of ``customer`` in ``currency`` (credit check)."""
    today = current_organization().today()
    totals = Invoice.objects.filter(
        customer=customer,
        currency=currency,
        status__in=(Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID),
    ).aggregate(
        open_balance=Sum("open_amount"),
        overdue=Sum("open_amount", filter=Q(due_date__lt=today)),
    )
    return Exposure(
        open_balance=quantize(totals["open_balance"] or 0, currency),
        overdue_balance=quantize(totals["overdue"] or 0, currency),
    )


# --- Web pages ------------------------------------------------------------------

OPEN_STATUSES = (Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID)
OUTSTANDING = "outstanding"  # the status filter's "open or partially paid"


@dataclass(frozen=True)
class ReceivablesTotals:
    """What the organization has to collect in one currency, today."""

    currency: str
    open_amount: Decimal
    open_invoices: int
    overdue_amount: Decimal
    overdue_invoices: int
    overdue_customers: int


def receivables_summary() -> list[ReceivablesTotals]:
    """Open and overdue receivables per currency: one grouped query over open
    invoices (the status index keeps paid history out of it)."""
    today = current_organization().today()
    overdue = Q(due_date__lt=today)
    rows = (
        Invoice.objects.filter(status__in=OPEN_STATUSES)
        .values("currency")
        .annotate(
            open_total=Sum("open_amount"),
            open_count=Count("id"),
            overdue_total=Sum("open_amount", filter=overdue),
            overdue_count=Count("id", filter=overdue),
            overdue_customers=Count("customer", filter=overdue, distinct=True),
        )
        .order_by("currency")
    )
    return [
        ReceivablesTotals(
            currency=row["currency"],
            open_amount=quantize(row["open_total"] or 0, row["currency"]),
            open_invoices=row["open_count"],
            overdue_amount=quantize(row["overdue_total"] or 0, row["currency"]),
            overdue_invoices=row["overdue_count"],
            overdue_customers=row["overdue_customers"],
        )
        for row in rows
    ]


@dataclass(frozen=True)
class InvoiceFilters:
    query: str = ""
    status: str = ""  # an Invoice.Status or OUTSTANDING
    customer_id: int | None = None
    currency: str = ""
    due_from: date | None = None
    due_to: date | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    overdue_only: bool = False


def invoice_search(*, filters: InvoiceFilters) -> QuerySet[Invoice]:
    """Invoices matching the list's filters (amounts filter the invoice total; the
    search looks at number, customer reference and customer name)."""
    invoices = Invoice.objects.select_related("customer")
    if filters.query:
        invoices = invoices.filter(
            Q(number__icontains=filters.query)
            | Q(customer_reference__icontains=filters.query)
            # Matching customers first: a handful of ids to probe, not a join
            # of every document to its customer.
            | Q(customer__in=Customer.objects.filter(name__icontains=filters.query))
        )
    if filters.status == OUTSTANDING:
        invoices = invoices.filter(status__in=OPEN_STATUSES)
    elif filters.status:
        invoices = invoices.filter(status=filters.status)
    if filters.customer_id:
        invoices = invoices.filter(customer_id=filters.customer_id)
    if filters.currency:
        invoices = invoices.filter(currency=filters.currency)
    if filters.due_from:
        invoices = invoices.filter(due_date__gte=filters.due_from)
    if filters.due_to:
        invoices = invoices.filter(due_date__lte=filters.due_to)
    if filters.amount_min is not None:
        invoices = invoices.filter(total__gte=filters.amount_min)
    if filters.amount_max is not None:
        invoices = invoices.filter(total__lte=filters.amount_max)
    if filters.overdue_only:
        invoices = invoices.filter(
            status__in=OPEN_STATUSES, due_date__lt=current_organization().today()
        )
    return invoices


def invoice_detail(*, pk: int) -> QuerySet[Invoice]:
    """The invoice (as a queryset, for ``get_object_or_404``) with everything its
    page shows: lines, instalments, credit notes, and its ledger entries with the
    open amount after each one."""
    return (
        Invoice.objects.filter(pk=pk)
        .select_related("customer", "customer__payment_term", "sales_order")
        .prefetch_related(
            "lines",
            "instalments",
            Prefetch("credit_notes", queryset=CreditNote.objects.order_by("id")),
            Prefetch(
                "ledger_entries",
                queryset=LedgerEntry.objects.annotate(
                    running_balance=Window(
                        Sum("amount"),
                        partition_by=[F("invoice_id")],
                        order_by=[F("posting_date").asc(), F("id").asc()],
                    )
                ).order_by("posting_date", "id"),
            ),
        )
    )


def customer_open_invoices(*, customer: Customer) -> QuerySet[Invoice]:
    return Invoice.objects.filter(customer=customer, status__in=OPEN_STATUSES)


def customer_paid_invoices(*, customer: Customer) -> QuerySet[Invoice]:
    return Invoice.objects.filter(customer=customer, status=Invoice.Status.PAID)


def order_invoices(*, order: SalesOrder) -> QuerySet[Invoice]:
    return Invoice.objects.filter(sales_order=order).order_by("invoice_date", "id")
