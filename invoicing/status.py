"""An issued invoice's payment status: the one rule, in Python and in SQL.

What the customer owes on an invoice is its total plus the fees charged on it
(dunning fees, interest; net of any fee reversal). The status says how much of that
has been settled, by payments, credit notes, write-offs or imported settlements:

* ``paid`` — nothing is left open;
* ``partially_paid`` — something is open, but less than was charged;
* ``open`` — everything charged is still open.

Comparing the open amount with the total alone would leave an invoice of 100.00
with a 5.00 fee and 50.00 paid "open" (55.00 is not below 100.00), although half of
it was paid.

:func:`payment_status` decides one invoice in Python (the ledger service, the bulk
loader, imports); :func:`payment_status_sql` is the same rule as a database
expression (``verify_ledger``), and :func:`fees_charged_sql` the fees it needs.
``tests/invoicing/test_payment_status.py`` proves the two forms agree.
"""

from __future__ import annotations

from decimal import Decimal

from django.db.models import (
    Case,
    CharField,
    DecimalField,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Round

from invoicing.models import Invoice, LedgerEntry
from o2c.money import quantize

Status = Invoice.Status
MONEY_FIELD = Invoice._meta.get_field("total")
# Fee debits, and reversals of fee debits (which take the fee back off what is owed).
FEE_ENTRIES = Q(kind=LedgerEntry.Kind.FEE) | Q(reverses__kind=LedgerEntry.Kind.FEE)


def payment_status(*, total: Decimal, fees: Decimal, open_amount: Decimal) -> str:
    """The status of an issued invoice charged ``total + fees`` with ``open_amount``
    still open."""
    if open_amount == 0:
        return Status.PAID
    if open_amount < total + fees:
        return Status.PARTIALLY_PAID
    return Status.OPEN


def payment_status_sql(*, total="total", fees="fees", open_amount="open_amount"):
    """:func:`payment_status` as a ``CASE`` over the named columns or annotations."""
    # SQLite adds decimals as floats (0.10 + 0.20 is 0.30000000000000004 there);
    # every amount has at most the column's decimal places, so rounding to them
    # gives the exact sum and changes nothing on PostgreSQL.
    charged = Round(F(total) + F(fees), precision=MONEY_FIELD.decimal_places)
    return Case(
        When(**{open_amount: 0}, then=Value(Status.PAID)),
        When(Q(**{f"{open_amount}__lt": charged}), then=Value(Status.PARTIALLY_PAID)),
        default=Value(Status.OPEN),
        output_field=CharField(),
    )


def fees_charged_sql():
    """The net fees charged on each invoice of the query it annotates."""
    fees = (
        LedgerEntry.objects.filter(FEE_ENTRIES, invoice=OuterRef("pk"))
        .values("invoice")
        .annotate(
            fees=Round(Sum("amount"), precision=MONEY_FIELD.decimal_places),
        )
        .values("fees")
    )
    return Coalesce(
        Subquery(fees),
        Value(Decimal(0)),
        output_field=DecimalField(
            max_digits=MONEY_FIELD.max_digits,
            decimal_places=MONEY_FIELD.decimal_places,
        ),
    )


def fees_by_invoice(invoice_ids) -> dict[int, Decimal]:
    """The net fees charged per invoice, for the Python form (absent = none)."""
    if not invoice_ids:
        return {}  # as the query would answer, without building it
    rows = (
        LedgerEntry.objects.filter(FEE_ENTRIES, invoice_id__in=invoice_ids)
        .values("invoice_id", "currency")
        .annotate(fees=Sum("amount"))
        .values_list("invoice_id", "currency", "fees")
    )
    # SQLite sums decimals as floats; every entry is exact in its currency.
    return {invoice_id: quantize(fees, currency) for invoice_id, currency, fees in rows}
