"""A customer's payment history and statement of account.

Payment behaviour counts **settled invoices**: issued, with a total, whose open
amount reached zero on ``settled_date`` (the last posting that settled it, by
payment, credit note or write-off; for history imported from another system the
settled date it brought, kept as :class:`~invoicing.models.ImportedSettlement`
and posted on that date). For each:

* days to pay = settled date - invoice date;
* days beyond terms = settled date - due date (negative when paid early);
* on time = settled on or before the due date.

Averages are plain averages over invoices (not weighted by amount).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Avg, Count, F, Q, QuerySet, Sum, Window
from django.db.models.functions import Coalesce, TruncMonth, TruncQuarter
from django.utils.translation import gettext, gettext_lazy, pgettext

from invoicing.models import CreditNote, Invoice, LedgerEntry
from invoicing.services.bulk import CREDIT_NOTE_DOC
from o2c.errors import DomainError
from o2c.money import quantize
from o2c.tenancy import current_organization
from orders.models import Customer
from reconciliation.models import Payment, WriteOff
from reconciliation.services.payments import PAYMENT_DOC, WRITE_OFF_DOC
from reports.selectors.aging import AgingFilters, aging_invoices, aging_report
from reports.selectors.common import DaysBetween, add_months, exact, to_decimal
from reports.selectors.metrics import SALES_KINDS

Kind = LedgerEntry.Kind
PAYMENT_KINDS = (Kind.PAYMENT, Kind.IMPORTED_SETTLEMENT)
_ONE = Decimal("0.1")
# Days beyond terms within this many days of the previous period read "steady".
TREND_TOLERANCE_DAYS = 2


def settled_invoices() -> QuerySet[Invoice]:
    """Settled invoices with ``days_to_pay`` and ``days_late`` (beyond terms)."""
    return Invoice.objects.filter(
        status=Invoice.Status.PAID, total__gt=0, settled_date__isnull=False
    ).annotate(
        days_to_pay=DaysBetween(F("settled_date"), F("invoice_date")),
        days_late=DaysBetween(F("settled_date"), F("due_date")),
    )


@dataclass(frozen=True)
class PaymentBehaviour:
    paid_invoices: int
    average_days_to_pay: Decimal | None
    average_days_late: Decimal | None
    on_time_share: Decimal | None  # percent of settled invoices paid by due date


def behaviour_aggregates() -> dict:
    return {
        "paid_invoices": Count("id"),
        "average_days_to_pay": Avg("days_to_pay"),
        "average_days_late": Avg("days_late"),
        "on_time": Count("id", filter=Q(settled_date__lte=F("due_date"))),
    }


def behaviour_from(row: dict) -> PaymentBehaviour:
    count = row["paid_invoices"] or 0
    return PaymentBehaviour(
        paid_invoices=count,
        average_days_to_pay=_one_decimal(row["average_days_to_pay"]),
        average_days_late=_one_decimal(row["average_days_late"]),
        on_time_share=_one_decimal(Decimal(row["on_time"]) * 100 / count)
        if count
        else None,
    )


def payment_behaviour(
    *,
    customer: Customer | None = None,
    settled_from: date | None = None,
    settled_to: date | None = None,
) -> PaymentBehaviour:
    """Averages over invoices settled between the two dates (inclusive)."""
    invoices = settled_invoices()
    if customer is not None:
        invoices = invoices.filter(customer=customer)
    if settled_from is not None:
        invoices = invoices.filter(settled_date__gte=settled_from)
    if settled_to is not None:
        invoices = invoices.filter(settled_date__lte=settled_to)
    return behaviour_from(invoices.aggregate(**behaviour_aggregates()))


@dataclass(frozen=True)
class Trend:
    """Days beyond terms over the last 90 days against the 90 before."""

    recent: PaymentBehaviour
    previous: PaymentBehaviour

    @property
    def direction(self) -> str:
        now, before = self.recent.average_days_late, self.previous.average_days_late
        if now is None or before is None:
            return "unknown"
        if now > before + TREND_TOLERANCE_DAYS:
            return "worsening"
        if now < before - TREND_TOLERANCE_DAYS:
            return "improving"
        return "steady"


def payment_trend(*, customer: Customer) -> Trend:
    today = current_organization().today()
    return Trend(
        recent=payment_behaviour(
            customer=customer, settled_from=today - timedelta(days=89), settled_to=today
        ),
        previous=payment_behaviour(
            customer=customer,
            settled_from=today - timedelta(days=179),
            settled_to=today - timedelta(days=90),
        ),
    )


@dataclass(frozen=True)
class QuarterBehaviour:
    quarter: date
    behaviour: PaymentBehaviour


def quarterly_behaviour(*, customer: Customer, quarters: int = 8) -> list:
    """Payment behaviour per calendar quarter of the settled date."""
    today = current_organization().today()
    quarter_start = today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1)
    first = add_months(quarter_start, -3 * (quarters - 1))
    rows = (
        settled_invoices()
        .filter(customer=customer, settled_date__gte=first)
        .annotate(quarter=TruncQuarter("settled_date"))
        .values("quarter")
        .annotate(**behaviour_aggregates())
        .order_by("quarter")
    )
    found = {_as_date(row["quarter"]): behaviour_from(row) for row in rows}
    empty = PaymentBehaviour(0, None, None, None)
    return [
        QuarterBehaviour(quarter, found.get(quarter, empty))
        for quarter in (add_months(first, 3 * k) for k in range(quarters))
    ]


@dataclass(frozen=True)
class MonthActivity:
    month: date
    currency: str
    invoiced: Decimal
    paid: Decimal


def monthly_activity(*, customer: Customer, months: int = 24) -> list[MonthActivity]:
    """Invoiced (invoices and fees, less voids) and paid (cash received and
    imported settlements, less reversals) per month and currency."""
    today = current_organization().today()
    first = add_months(today, -(months - 1))
    original = Coalesce("reverses__kind", "kind")
    rows = (
        LedgerEntry.objects.filter(customer=customer, posting_date__gte=first)
        .annotate(original_kind=original, month=TruncMonth("posting_date"))
        .values("month", "currency")
        .annotate(
            invoiced=Sum("amount", filter=Q(original_kind__in=SALES_KINDS)),
            paid=Sum("amount", filter=Q(original_kind__in=PAYMENT_KINDS)),
        )
        .order_by("currency", "month")
    )
    found = {(_as_date(r["month"]), r["currency"]): r for r in rows}
    currencies = sorted({currency for _, currency in found}) or [customer.currency]
    result = []
    for currency in currencies:
        for k in range(months):
            month = add_months(first, k)
            row = found.get((month, currency), {})
            result.append(
                MonthActivity(
                    month=month,
                    currency=currency,
                    invoiced=exact(row.get("invoiced"), currency),
                    paid=-exact(row.get("paid"), currency) + 0,
                )
            )
    return result


def customer_invoice_history(*, customer: Customer) -> QuerySet[Invoice]:
    """The customer's issued invoices, newest first, with days to pay and days
    beyond terms for the settled ones."""
    return (
        Invoice.objects.filter(customer=customer, status__in=Invoice.ISSUED)
        .annotate(
            days_to_pay=DaysBetween(F("settled_date"), F("invoice_date")),
            days_late=DaysBetween(F("settled_date"), F("due_date")),
        )
        .order_by("-invoice_date", "-id")
    )


# --- statement of account ---------------------------------------------------------

STATEMENT_CATEGORIES = {
    "invoices": (gettext_lazy("Invoices and fees"), SALES_KINDS),
    "credit_notes": (gettext_lazy("Credit notes"), (Kind.CREDIT_NOTE,)),
    "payments": (gettext_lazy("Payments"), PAYMENT_KINDS),
    "write_offs": (gettext_lazy("Write-offs"), (Kind.WRITE_OFF,)),
    "discounts": (gettext_lazy("Early-payment discounts"), (Kind.DISCOUNT,)),
}
MAX_STATEMENT_LINES = 5000


@dataclass
class StatementLine:
    posting_date: date
    kind: str
    category: str
    description: str
    invoice_number: str
    due_date: date | None
    amount: Decimal
    balance: Decimal
    #: The kind of the posting a reversal reverses (else the kind itself) and the
    #: number of its document (payment, credit note) or a write-off's reason.
    original_kind: str = ""
    document_number: str = ""

    @property
    def document(self) -> str:
        """What the line is, in the active language ("Zahlung PAY-000012");
        ``description`` is the ledger's memo, written in English when posted."""
        kind = self.original_kind or self.kind
        number = self.invoice_number if kind == Kind.INVOICE else self.document_number
        label = _document_label(kind, number)
        if self.kind == Kind.REVERSAL:
            return gettext("Reversal: %(document)s") % {"document": label}
        return label

    @property
    def debit(self) -> Decimal | None:
        return self.amount if self.amount > 0 else None

    @property
    def credit(self) -> Decimal | None:
        return -self.amount if self.amount < 0 else None


@dataclass
class Statement:
    customer: Customer
    currency: str
    start: date
    end: date
    opening_balance: Decimal
    closing_balance: Decimal
    lines: list[StatementLine]
    category_totals: dict[str, Decimal]
    aging: object  # AgingReport of the customer as of ``end``
    open_invoices: list[Invoice] = field(default_factory=list)
    truncated: bool = False

    @property
    def category_rows(self) -> list[tuple[str, Decimal]]:
        labels = {key: label for key, (label, _) in STATEMENT_CATEGORIES.items()}
        labels["other"] = gettext_lazy("Other adjustments")
        return [
            (labels[key], amount)
            for key, amount in self.category_totals.items()
            # Discounts only where the customer took one.
            if amount or key not in ("other", "discounts")
        ]


def statement_currencies(*, customer: Customer) -> list[str]:
    currencies = set(
        LedgerEntry.objects.filter(customer=customer)
        .values_list("currency", flat=True)
        .distinct()
    )
    return sorted(currencies | {customer.currency})


def statement(
    *, customer: Customer, start: date, end: date, currency: str | None = None
) -> Statement:
    """Opening balance, every document of the period, closing balance and aging.

    Balances are the customer's net account (open invoices less cash on
    account). Allocations of a payment to invoices move amounts inside the
    account (a credit on the invoice, an equal debit on account) and are not
    lines of the statement; the payment itself is.
    """
    today = current_organization().today()
    if start > end:
        raise DomainError(
            "invalid_period", "The period starts after it ends.", field="start"
        )
    if end > today:
        raise DomainError(
            "invalid_date",
            f"A statement ends today ({today.isoformat()}) at the latest.",
            field="end",
        )
    currency = currency or customer.currency
    entries = LedgerEntry.objects.filter(customer=customer, currency=currency)
    opening = exact(
        entries.filter(posting_date__lt=start).aggregate(total=Sum("amount"))["total"],
        currency,
    )
    lines_qs = (
        entries.filter(posting_date__gte=start, posting_date__lte=end)
        .annotate(original_kind=Coalesce("reverses__kind", "kind"))
        .exclude(original_kind=Kind.ALLOCATION)
        .select_related("invoice")
        .annotate(running=Window(Sum("amount"), order_by=[F("posting_date"), F("id")]))
        .order_by("posting_date", "id")
    )
    totals = (
        entries.filter(posting_date__gte=start, posting_date__lte=end)
        .annotate(original_kind=Coalesce("reverses__kind", "kind"))
        .values("original_kind")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    entries_in_period = list(lines_qs[: MAX_STATEMENT_LINES + 1])
    numbers = _document_numbers(entries_in_period)
    category_totals = {key: quantize(0, currency) for key in STATEMENT_CATEGORIES}
    category_totals["other"] = quantize(0, currency)
    for row in totals:
        category = _category(row["original_kind"])
        if category is not None:
            category_totals[category] += exact(row["total"], currency)
    lines = [
        StatementLine(
            posting_date=entry.posting_date,
            kind=entry.kind,
            category=_category(entry.original_kind) or "other",
            description=entry.memo or entry.get_kind_display(),
            invoice_number=entry.invoice.number if entry.invoice else "",
            due_date=entry.invoice.due_date if entry.invoice else None,
            amount=exact(entry.amount, currency),
            balance=opening + exact(entry.running, currency),
            original_kind=entry.original_kind,
            document_number=numbers.get((entry.document_type, entry.document_id), ""),
        )
        for entry in entries_in_period
    ]
    truncated = len(lines) > MAX_STATEMENT_LINES
    closing = exact(
        entries.filter(posting_date__lte=end).aggregate(total=Sum("amount"))["total"],
        currency,
    )
    filters = AgingFilters(customer_id=customer.pk, currency=currency)
    return Statement(
        customer=customer,
        currency=currency,
        start=start,
        end=end,
        opening_balance=opening,
        closing_balance=closing,
        lines=lines[:MAX_STATEMENT_LINES],
        category_totals=category_totals,
        aging=aging_report(as_of=end, group_by="currency", filters=filters),
        open_invoices=list(aging_invoices(as_of=end, filters=filters)[:500]),
        truncated=truncated,
    )


def _category(kind: str) -> str | None:
    """The statement category of an entry kind; None for allocations, which net
    to zero within the account."""
    if kind == Kind.ALLOCATION:
        return None
    for key, (_, kinds) in STATEMENT_CATEGORIES.items():
        if kind in kinds:
            return key
    return "other"


def _document_numbers(entries: list[LedgerEntry]) -> dict[tuple[str, int], str]:
    """Numbers of the credit notes and payments and reasons of the write-offs
    behind ``entries``, by (document type, id)."""
    ids: dict[str, set[int]] = {}
    for entry in entries:
        ids.setdefault(entry.document_type, set()).add(entry.document_id)
    sources = {
        CREDIT_NOTE_DOC: (CreditNote, "number"),
        PAYMENT_DOC: (Payment, "number"),
        WRITE_OFF_DOC: (WriteOff, "reason"),
    }
    numbers = {}
    for document_type, (model, field_name) in sources.items():
        if document_type in ids:
            rows = model.objects.filter(pk__in=ids[document_type]).values_list(
                "pk", field_name
            )
            numbers.update(((document_type, pk), value) for pk, value in rows)
    return numbers


def _document_label(kind: str, number: str) -> str:
    """A statement line's document in the active language."""
    if kind == Kind.INVOICE:
        return gettext("Invoice %(number)s") % {"number": number} if number else ""
    if kind == Kind.CREDIT_NOTE and number:
        return gettext("Credit note %(number)s") % {"number": number}
    if kind == Kind.PAYMENT and number:
        return gettext("Payment %(number)s") % {"number": number}
    if kind == Kind.WRITE_OFF and number:
        return gettext("Write-off: %(reason)s") % {"reason": number}
    labels = {
        Kind.FEE: pgettext("statement line", "Fee"),
        Kind.CREDIT_NOTE: pgettext("statement line", "Credit note"),
        Kind.PAYMENT: pgettext("statement line", "Payment"),
        Kind.WRITE_OFF: pgettext("statement line", "Write-off"),
        Kind.IMPORTED_SETTLEMENT: gettext("Settlement (imported history)"),
    }
    return labels.get(kind, pgettext("statement line", "Adjustment"))


def _one_decimal(value) -> Decimal | None:
    if value is None:
        return None
    return to_decimal(value).quantize(_ONE)


def _as_date(value) -> date:
    return value.date() if hasattr(value, "date") else value
