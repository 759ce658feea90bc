"""Invariants of payments and allocations against the ledger."""

from collections.abc import Iterator

from django.db.models import F, OuterRef, Q, Subquery, Sum, Window
from django.db.models.functions import Coalesce

from invoicing.checks import as_money_column, exact_sum
from invoicing.models import LedgerEntry
from o2c.money import quantize
from reconciliation.models import Allocation, Discount, Payment

LIMIT = 20


def check_payments() -> Iterator[str]:
    money = Payment._meta.get_field("amount")
    on_account = (
        LedgerEntry.objects.filter(payment_id=OuterRef("pk"), invoice__isnull=True)
        .values("payment_id")
        .annotate(total=exact_sum(Sum("amount")))
        .values("total")
    )
    allocated = (
        Allocation.objects.filter(payment=OuterRef("pk"), status="active")
        .values("payment")
        .annotate(total=exact_sum(Sum("amount")))
        .values("total")
    )
    payments = Payment.objects.annotate(
        ledger_unapplied=-Coalesce(Subquery(on_account), 0, output_field=money),
        allocated=Coalesce(Subquery(allocated), 0, output_field=money),
        applied=exact_sum(F("amount") - F("unapplied_amount")),
    )
    for p in payments.exclude(unapplied_amount=F("ledger_unapplied"))[:LIMIT]:
        yield (
            f"payment {p.number}: unapplied {p.unapplied_amount} but ledger says "
            f"{as_money_column(p.ledger_unapplied)}"
        )
    received = payments.filter(status=Payment.Status.RECEIVED)
    for p in received.exclude(allocated=F("applied"))[:LIMIT]:
        yield (
            f"payment {p.number}: allocations {as_money_column(p.allocated)} but "
            f"amount - unapplied is {p.amount - p.unapplied_amount}"
        )
    reversed_with_cash = payments.filter(
        Q(status=Payment.Status.REVERSED) & ~Q(unapplied_amount=0)
    )
    for p in reversed_with_cash[:LIMIT]:
        yield f"payment {p.number}: reversed but {p.unapplied_amount} still on account"
    running = (
        LedgerEntry.objects.filter(payment_id__isnull=False, invoice__isnull=True)
        .annotate(
            running=exact_sum(
                Window(
                    Sum("amount"),
                    partition_by=[F("payment_id")],
                    order_by=[F("posting_date").asc()],
                )
            )
        )
        .filter(running__gt=0)
    )
    for row in running.values("payment_id", "posting_date")[:LIMIT]:
        yield (
            f"payment id {row['payment_id']}: more applied than received as of "
            f"{row['posting_date']}"
        )


def check_discounts() -> Iterator[str]:
    """Early-payment discounts against the ledger: a posted discount is credited
    on its invoice (kind ``discount``) for its amount, a reversed one nets to
    zero, and no invoice is granted more than the discount it was issued with."""
    money = Discount._meta.get_field("amount")
    on_ledger = (
        LedgerEntry.objects.filter(
            document_type="reconciliation.discount", document_id=OuterRef("pk")
        )
        .values("document_id")
        .annotate(total=exact_sum(Sum("amount")))
        .values("total")
    )
    discounts = Discount.objects.annotate(
        ledger=-Coalesce(Subquery(on_ledger), 0, output_field=money)
    )
    for d in discounts.filter(status=Discount.Status.POSTED).exclude(
        ledger=F("amount")
    )[:LIMIT]:
        yield (
            f"discount {d.pk} on invoice id {d.invoice_id}: "
            f"{quantize(d.amount, d.currency)} granted but ledger says "
            f"{quantize(d.ledger, d.currency)}"
        )
    for d in discounts.filter(status=Discount.Status.REVERSED).exclude(ledger=0)[
        :LIMIT
    ]:
        yield (
            f"discount {d.pk}: reversed but {quantize(d.ledger, d.currency)} on "
            "the ledger"
        )
    granted = (
        LedgerEntry.objects.filter(
            Q(kind=LedgerEntry.Kind.DISCOUNT)
            | Q(reverses__kind=LedgerEntry.Kind.DISCOUNT)
        )
        .values("invoice_id")
        .annotate(total=-exact_sum(Sum("amount")))
        .filter(
            Q(invoice__discount_amount__isnull=True)
            | Q(total__gt=F("invoice__discount_amount"))
        )
    )
    for row in granted[:LIMIT]:
        yield (
            f"invoice id {row['invoice_id']}: discounts of "
            f"{as_money_column(row['total'])} exceed the discount it was issued with"
        )
