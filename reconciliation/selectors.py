"""Reads over payments, their allocations and write-offs, and the customer list
with balances (open invoices minus unapplied cash, which lives here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.db.models import (
    DecimalField,
    Exists,
    F,
    FilteredRelation,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from invoicing.models import Invoice, ReceivablesSummary
from invoicing.references import PayTo
from invoicing.selectors import OPEN_STATUSES, CustomerBalance
from o2c.models import Sequence
from o2c.money import quantize
from o2c.tenancy import current_organization
from orders.models import MONEY, Customer
from orders.selectors import PAGE_SIZE, Page, keyset_page_merged
from reconciliation.matching.text import invoice_number_candidates, read_references
from reconciliation.models import Allocation, BankAccount, Payment, WriteOff

_AMOUNT = DecimalField(**MONEY)

# --- The customer list ----------------------------------------------------------
#
# Each row shows, in the customer's account currency and as of today, what is open
# on its invoices, the cash received but not applied, the balance (open minus
# unapplied) and what is overdue: the customer's receivables summary row in that
# currency (``invoicing.models.ReceivablesSummary``, kept by the ledger service in
# the posting's transaction and checked by ``verify_ledger``). The view refreshes
# the summary's expired overdue figures first (``summary_refresh``).
#
# Sorted by name or number, the keyset cursor walks the (organization, name)
# index and each of the page's rows joins its summary row (a LEFT JOIN: a customer
# without one has nothing open). Sorted by balance or overdue, the page merges two
# index walks that stop after a page: the summary rows in the account currency
# through ``receivables_balance_idx`` / ``receivables_overdue_idx`` (currency,
# amount descending, customer descending), and the customers without such a row,
# whose amounts are zero. Zero is where they fall in the order: after the
# positive balances and before the negative ones (credits: more cash on account
# than open on invoices), so "largest first" lists what customers owe, then the
# settled accounts, then those the organization owes. Amounts of different
# currencies are never compared: amount sorts group customers by account currency
# first. The one COUNT(*) is over the filtered customer table, never a join.

FIGURES = ("balance", "invoices_open", "unapplied_cash", "overdue")


def customers_with_balances(customers: QuerySet[Customer]) -> QuerySet[Customer]:
    """``customers`` annotated with ``invoices_open``, ``overdue``, ``unapplied_cash``
    and ``balance`` (open minus unapplied) in each one's account currency, today
    (after :func:`~invoicing.services.summary.summary_refresh`)."""
    organization = current_organization()
    account = FilteredRelation(
        "receivables",
        condition=Q(
            receivables__organization=organization,
            receivables__currency=F("currency"),
        ),
    )
    return customers.annotate(account=account).annotate(
        **{
            name: Coalesce(
                F(f"account__{name}"), Value(Decimal(0)), output_field=_AMOUNT
            )
            for name in FIGURES
        }
    )


def customers_by_amount(
    customers: QuerySet[Customer],
    *,
    ordering: list[str],
    cursor: str = "",
    page_size: int = PAGE_SIZE,
) -> Page:
    """A page of ``customers`` with their figures (as :func:`customers_with_balances`)
    sorted by ``ordering`` (currency, then balance or overdue, then id), read
    through the summary's amount indexes."""
    organization = current_organization()
    with_summary = customers.filter(
        receivables__organization=organization,
        receivables__currency=F("currency"),
    ).annotate(**{name: F(f"receivables__{name}") for name in FIGURES})
    without_summary = customers.filter(
        ~Exists(
            ReceivablesSummary.objects.filter(
                customer=OuterRef("pk"), currency=OuterRef("currency")
            )
        )
    ).annotate(**{name: Value(Decimal(0), output_field=_AMOUNT) for name in FIGURES})
    return keyset_page_merged(
        [with_summary, without_summary],
        ordering=ordering,
        cursor=cursor,
        page_size=page_size,
    )


def other_currency_balances(
    *, customers: list[Customer]
) -> dict[int, list[CustomerBalance]]:
    """Balances of the listed customers in currencies other than their account's
    (rare: an invoice issued in a foreign currency), from their summary rows."""
    rows = (
        ReceivablesSummary.objects.filter(customer__in=[c.pk for c in customers])
        .exclude(currency=F("customer__currency"))
        .exclude(balance=0, invoices_open=0, unapplied_cash=0, overdue=0)
        .order_by("customer_id", "currency")
    )
    balances: dict[int, list[CustomerBalance]] = {}
    for row in rows:
        balances.setdefault(row.customer_id, []).append(
            CustomerBalance(
                currency=row.currency,
                balance=quantize(row.balance, row.currency),
                invoices_open=quantize(row.invoices_open, row.currency),
                unapplied_cash=quantize(row.unapplied_cash, row.currency),
                overdue=quantize(row.overdue, row.currency),
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
