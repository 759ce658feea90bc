"""Invariants of payments and allocations against the ledger."""

from collections.abc import Iterator

from django.db.models import F, OuterRef, Q, Subquery, Sum, Window
from django.db.models.functions import Coalesce

from invoicing.checks import as_money_column, exact_sum
from invoicing.models import LedgerEntry
from reconciliation.models import Allocation, Payment

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
