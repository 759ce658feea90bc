"""Reads over payments, their allocations and write-offs, and the customer list
with balances (open invoices minus unapplied cash, which lives here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.db.models import (
    DecimalField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from invoicing.models import Invoice
from invoicing.references import PayTo
from invoicing.selectors import OPEN_STATUSES, CustomerBalance
from o2c.models import Sequence
from o2c.money import quantize
from o2c.tenancy import current_organization
from orders.models import MONEY, Customer
from reconciliation.matching.text import invoice_number_candidates, read_references
from reconciliation.models import Allocation, BankAccount, Payment, WriteOff

_AMOUNT = DecimalField(**MONEY)

# --- The customer list ----------------------------------------------------------
#
# Each row shows, in the customer's account currency and as of today, what is open
# on its invoices (``Invoice.open_amount``), the cash received but not applied
# (``Payment.unapplied_amount``), the balance (open minus unapplied) and what is
# overdue. Both amounts are caches the ledger service keeps in step with the
# ledger, so they agree with ``customer_balances`` (the tests hold them to it);
# summing the ledger's on-account entries instead means ~120 rows per customer and
# was 5x slower.
#
# Each figure is a correlated subquery (an index probe per customer), so a page
# sorted by name or number computes them for its 50 rows only: the keyset cursor
# walks the (organization, name) index, no OFFSET, and the one COUNT(*) is over the
# filtered customer table, never a join. Sorting by balance or overdue needs every
# matching customer's figure: the database probes once per customer, keeps the top
# 50, and the cursor carries the amount so the next page is a range condition.
# That is O(matching customers), ~15 µs each with index-only probes; we chose it
# over a GROUP BY over all open invoices and unapplied payments (measured no
# faster) because it stays one ORM query that composes with every filter.
#
# Measured on PostgreSQL 15, 50,000 customers, 2,000,000 invoices (120,000 open),
# 1,500,000 payments, on a shared 2-core machine under load: page by name 15-35 ms,
# search 100-150 ms; sorted by overdue 0.35 s and by balance 1-2 s with two partial
# indexes that make every probe index-only (invoices on (organization, customer,
# currency, due_date, open_amount) where open or partially paid; payments on
# (organization, customer, currency) where unapplied_amount > 0), 3-5 s without.
# Amounts of different currencies are never compared: amount sorts group customers
# by account currency first.


def _summed(queryset, field: str):
    """``SUM(field)`` of ``queryset`` (correlated on the outer customer), 0 if none."""
    total = (
        queryset.order_by()
        .values("customer")
        .annotate(total=Sum(field))
        .values("total")
    )
    return Coalesce(
        Subquery(total, output_field=_AMOUNT), Value(Decimal(0)), output_field=_AMOUNT
    )


def customers_with_balances(customers: QuerySet[Customer]) -> QuerySet[Customer]:
    """``customers`` annotated with ``invoices_open``, ``overdue``, ``unapplied_cash``
    and ``balance`` (open minus unapplied) in each one's account currency, today."""
    today = current_organization().today()
    open_invoices = Invoice.objects.filter(
        customer=OuterRef("pk"),
        currency=OuterRef("currency"),
        status__in=OPEN_STATUSES,
    )
    unapplied = Payment.objects.filter(
        customer=OuterRef("pk"),
        currency=OuterRef("currency"),
        status=Payment.Status.RECEIVED,
        unapplied_amount__gt=0,
    )
    return customers.annotate(
        invoices_open=_summed(open_invoices, "open_amount"),
        overdue=_summed(open_invoices.filter(due_date__lt=today), "open_amount"),
        unapplied_cash=_summed(unapplied, "unapplied_amount"),
    ).annotate(
        balance=ExpressionWrapper(
            F("invoices_open") - F("unapplied_cash"), output_field=_AMOUNT
        )
    )


def other_currency_balances(
    *, customers: list[Customer]
) -> dict[int, list[CustomerBalance]]:
    """Balances of the listed customers in currencies other than their account's.

    Rare (an invoice issued in a foreign currency), so two grouped queries over the
    page's customers rather than more subqueries per row.
    """
    today = current_organization().today()
    ids = [customer.pk for customer in customers]
    invoices = (
        Invoice.objects.filter(customer_id__in=ids, status__in=OPEN_STATUSES)
        .exclude(currency=F("customer__currency"))
        .values("customer_id", "currency")
        .annotate(
            open_total=Sum("open_amount"),
            overdue_total=Sum("open_amount", filter=Q(due_date__lt=today)),
        )
    )
    cash = (
        Payment.objects.filter(
            customer_id__in=ids,
            status=Payment.Status.RECEIVED,
            unapplied_amount__gt=0,
        )
        .exclude(currency=F("customer__currency"))
        .values("customer_id", "currency")
        .annotate(unapplied_total=Sum("unapplied_amount"))
    )
    figures: dict[tuple[int, str], dict] = {}
    for row in [*invoices, *cash]:
        figures.setdefault((row["customer_id"], row["currency"]), {}).update(row)
    balances: dict[int, list[CustomerBalance]] = {}
    for (customer_id, currency), row in sorted(figures.items()):
        invoices_open = row.get("open_total") or Decimal(0)
        unapplied_cash = row.get("unapplied_total") or Decimal(0)
        balances.setdefault(customer_id, []).append(
            CustomerBalance(
                currency=currency,
                balance=quantize(invoices_open - unapplied_cash, currency),
                invoices_open=quantize(invoices_open, currency),
                unapplied_cash=quantize(unapplied_cash, currency),
                overdue=quantize(row.get("overdue_total") or 0, currency),
            )
        )
    return balances


# --- Payments -------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentFilters:
    query: str = ""
    status: str = ""
    customer_id: int | None = None
    currency: str = ""
    received_from: date | None = None
    received_to: date | None = None
    unapplied_only: bool = False


def payment_search(*, filters: PaymentFilters) -> QuerySet[Payment]:
    """Payments matching the list's filters; the search looks at number, bank
    reference, payer name and customer name."""
    payments = Payment.objects.select_related("customer")
    if filters.query:
        payments = payments.filter(
            Q(number__icontains=filters.query)
            | Q(reference__icontains=filters.query)
            | Q(payer_name__icontains=filters.query)
            # Matching customers first: a handful of ids to probe, not a join
            # of every document to its customer.
            | Q(customer__in=Customer.objects.filter(name__icontains=filters.query))
        )
    if filters.status:
        payments = payments.filter(status=filters.status)
    if filters.customer_id:
        payments = payments.filter(customer_id=filters.customer_id)
    if filters.currency:
        payments = payments.filter(currency=filters.currency)
    if filters.received_from:
        payments = payments.filter(received_date__gte=filters.received_from)
    if filters.received_to:
        payments = payments.filter(received_date__lte=filters.received_to)
    if filters.unapplied_only:
        payments = payments.filter(
            status=Payment.Status.RECEIVED, unapplied_amount__gt=0
        )
    return payments


def payment_detail(*, pk: int) -> QuerySet[Payment]:
    """The payment (as a queryset, for ``get_object_or_404``) with its customer."""
    return Payment.objects.filter(pk=pk).select_related("customer")


def payment_allocations(*, payment: Payment) -> QuerySet[Allocation]:
    return (
        Allocation.objects.filter(payment=payment)
        .select_related("invoice")
        .order_by("allocation_date", "id")
    )


def payment_applied_amount(*, payment: Payment) -> Decimal:
    """What the payment's active allocations settle on invoices."""
    total = Allocation.objects.filter(
        payment=payment, status=Allocation.Status.ACTIVE
    ).aggregate(total=Sum("amount"))["total"]
    return quantize(total or 0, payment.currency)


def customer_unapplied_payments(*, customer: Customer) -> QuerySet[Payment]:
    """Received payments of ``customer`` with cash still on account, oldest first:
    the ones to apply next."""
    return Payment.objects.filter(
        customer=customer, status=Payment.Status.RECEIVED, unapplied_amount__gt=0
    ).order_by("received_date", "id")


def customer_payments(*, customer: Customer) -> QuerySet[Payment]:
    return Payment.objects.filter(customer=customer)


def invoice_allocations(*, invoice: Invoice) -> QuerySet[Allocation]:
    return (
        Allocation.objects.filter(invoice=invoice)
        .select_related("payment")
        .order_by("allocation_date", "id")
    )


def invoice_write_offs(*, invoice: Invoice) -> QuerySet[WriteOff]:
    return WriteOff.objects.filter(invoice=invoice).order_by("write_off_date", "id")


# --- Bank accounts ----------------------------------------------------------------


def default_pay_to() -> PayTo | None:
    """The organization's default bank account as printed on invoices and
    statements (registered with invoicing at start-up, see invoicing.references)."""
    account = BankAccount.objects.filter(is_default=True).first()
    if account is None:
        return None
    return PayTo(
        account_name=current_organization().name,
        iban=account.iban,
        bic=account.bic,
        account_number=account.account_number,
        routing_number=account.routing_number,
    )


# --- Open invoices for the exceptions queue ---------------------------------------

INVOICE_SEARCH_LIMIT = 10
CUSTOMER_SEARCH_LIMIT = 20


def open_invoices_search(
    *, text: str, currency: str, limit: int = INVOICE_SEARCH_LIMIT
) -> list[Invoice]:
    """Open invoices in ``currency`` a person may mean by ``text``: an invoice
    number (as typed, or read as the engine reads remittance: leading zeros,
    spaces, prefix or an RF reference), an amount (the exact open amount), or a
    customer's number or the start of its name. Oldest due first, at most
    ``limit``.

    Each lookup stays on an index: numbers are exact matches on the (organization,
    number) key, amounts on ``invoice_open_amount_idx``, and a customer's open
    invoices on ``invoice_open_customer_idx``. Only the name prefix reads the
    customer table (far smaller than the invoices), at most
    ``CUSTOMER_SEARCH_LIMIT`` customers."""
    text = " ".join(text.split())
    if not text:
        return []
    open_invoices = Invoice.objects.filter(
        status__in=OPEN_STATUSES, currency=currency
    ).select_related("customer")
    found: dict[int, Invoice] = {}

    def take(queryset) -> None:
        for invoice in queryset.order_by("due_date", "pk")[:limit]:
            found.setdefault(invoice.pk, invoice)

    take(open_invoices.filter(number__in=_numbers_meant(text)))
    amount = _amount_meant(text)
    if amount is not None:
        take(open_invoices.filter(open_amount=amount))
    if len(text) >= 2:
        customers = list(
            Customer.objects.filter(
                Q(number=text.upper()) | Q(number=text) | Q(name__istartswith=text)
            ).values_list("pk", flat=True)[:CUSTOMER_SEARCH_LIMIT]
        )
        if customers:
            take(open_invoices.filter(customer_id__in=customers))
    invoices = sorted(found.values(), key=lambda i: (i.due_date, i.pk))[:limit]
    for invoice in invoices:
        invoice.open_amount = quantize(invoice.open_amount, invoice.currency)
    return invoices


def _numbers_meant(text: str) -> list[str]:
    sequence = Sequence.objects.filter(name="invoice").first()
    prefix = sequence.prefix if sequence else "INV-"
    padding = sequence.padding if sequence else 6
    numbers = {text, text.upper()}
    digits = text.replace(" ", "")
    if digits.isdigit():
        # A short number typed by a person: the remittance reader wants more
        # digits before it calls a number an invoice number.
        numbers.add(f"{prefix}{int(digits):0{padding}d}")
    references = read_references(text)
    if references:
        numbers |= set(
            invoice_number_candidates(references, prefix=prefix, padding=padding)
        )
    return sorted(numbers)


def _amount_meant(text: str) -> Decimal | None:
    """``1234.5``, ``1,234.50``, ``1.234,50`` or ``1234,50``: the amount typed."""
    cleaned = text.replace(" ", "").replace("'", "")
    if "," in cleaned and "." in cleaned:
        decimal_mark = "," if cleaned.rfind(",") > cleaned.rfind(".") else "."
        thousands = "." if decimal_mark == "," else ","
        cleaned = cleaned.replace(thousands, "").replace(decimal_mark, ".")
    elif "," in cleaned:
        whole, _, cents = cleaned.rpartition(",")
        # "1,234" is a thousand; "1234,5" and "12,50" are decimal commas.
        if len(cents) == 3:
            cleaned = cleaned.replace(",", "")
        else:
            cleaned = f"{whole.replace(',', '')}.{cents}"
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount <= 0:
        return None
    return amount
