"""Reads over invoices and the ledger. Balances as of any date are sums of entries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Q, Sum

from invoicing.models import Invoice, LedgerEntry
from o2c.money import quantize
from o2c.tenancy import current_organization
from orders.models import Customer
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
    rows = entries.values("currency").annotate(
        balance=Sum("amount"),
        invoices_open=Sum("amount", filter=Q(invoice__isnull=False)),
        on_account=Sum("amount", filter=Q(invoice__isnull=True)),
        overdue=Sum("amount", filter=Q(invoice__due_date__lt=as_of)),
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
        open_balance=totals["open_balance"] or Decimal(0),
        overdue_balance=totals["overdue"] or Decimal(0),
    )
