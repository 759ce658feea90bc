"""The one service that writes the receivables ledger.

Every debit and credit of the receivables goes through :func:`ledger_post`; it also
keeps each invoice's cached ``open_amount`` and derived status in step with the
entries, in the same transaction, under a row lock. Nothing else writes
``LedgerEntry`` rows or ``Invoice.open_amount``.

Invariants it enforces (and ``verify_ledger`` re-checks):

* amounts are non-zero and exact in the entry's currency's minor unit;
* an entry's currency is its invoice's currency;
* an invoice's open amount never goes below zero — not now and not as of any past
  posting date (a back-dated credit cannot make history negative);
* the on-account (unapplied) cash of a payment stays between zero and the payment's
  amount at every posting date.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from invoicing.models import Invoice, LedgerEntry
from invoicing.status import fees_by_invoice, payment_status
from o2c.errors import ConflictError, DomainError
from o2c.money import quantize
from o2c.services import Actor, transition
from o2c.tenancy import current_organization


@dataclass(frozen=True)
class Posting:
    customer_id: int
    kind: str
    amount: Decimal
    currency: str
    posting_date: date
    document_type: str
    document_id: int
    invoice_id: int | None = None
    payment_id: int | None = None
    reverses_id: int | None = None
    memo: str = ""
    field: str = field(default="amount", compare=False)


@transaction.atomic
def ledger_post(*, postings: list[Posting], actor: Actor) -> list[LedgerEntry]:
    """Append ``postings`` and bring the touched invoices' open amounts in step."""
    organization = current_organization()
    invoices = _lock_invoices({p.invoice_id for p in postings if p.invoice_id})
    for posting in postings:
        _check_posting(posting, invoices.get(posting.invoice_id))
    entries = LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                organization=organization,
                customer_id=p.customer_id,
                invoice_id=p.invoice_id,
                kind=p.kind,
                amount=p.amount,
                currency=p.currency,
                posting_date=p.posting_date,
                document_type=p.document_type,
                document_id=p.document_id,
                payment_id=p.payment_id,
                reverses_id=p.reverses_id,
                memo=p.memo,
            )
            for p in postings
        ]
    )
    totals = _check_history(postings)
    _sync_invoices(invoices, totals, actor=actor)
    return entries


@transaction.atomic
def ledger_reverse(
    *,
    entries: list[LedgerEntry],
    posting_date: date,
    actor: Actor,
    memo: str = "",
    date_field: str = "date",
) -> list[LedgerEntry]:
    """Post the exact opposite of each of ``entries`` on ``posting_date``.

    ``date_field`` names the caller's input that gave the date, for the error.
    """
    already = LedgerEntry.objects.filter(reverses__in=entries).values_list(
        "reverses_id", flat=True
    )
    if already:
        raise ConflictError("already_reversed", _("That posting is already reversed."))
    for entry in entries:
        if posting_date < entry.posting_date:
            raise DomainError(
                "date_before_original",
                _("A reversal cannot be dated before the original posting (%(date)s).")
                % {"date": entry.posting_date.isoformat()},
                field=date_field,
            )
    return ledger_post(
        postings=[
            Posting(
                customer_id=e.customer_id,
                invoice_id=e.invoice_id,
                payment_id=e.payment_id,
                kind=LedgerEntry.Kind.REVERSAL,
                amount=-e.amount,
                currency=e.currency,
                posting_date=posting_date,
                document_type=e.document_type,
                document_id=e.document_id,
                reverses_id=e.pk,
                memo=memo or f"Reversal of {e.get_kind_display().lower()}",
            )
            for e in entries
        ],
        actor=actor,
    )


def _lock_invoices(invoice_ids: set[int]) -> dict[int, Invoice]:
    # A fixed lock order (by id) keeps two concurrent postings from deadlocking.
    return {
        invoice.pk: invoice
        for invoice in Invoice.objects.select_for_update()
        .filter(pk__in=invoice_ids)
        .order_by("pk")
    }


def _check_posting(posting: Posting, invoice: Invoice | None) -> None:
    if posting.amount == 0:
        raise DomainError(
            "zero_amount", _("Amount must not be zero."), field=posting.field
        )
    if posting.amount != quantize(posting.amount, posting.currency):
        raise DomainError(
            "invalid_amount",
            _("%(amount)s is not exact in %(currency)s.")
            % {"amount": posting.amount, "currency": posting.currency},
            field=posting.field,
        )
    if posting.invoice_id is None:
        return
    if invoice is None:
        raise DomainError("unknown_invoice", _("Invoice not found."), field="invoice")
    if invoice.currency != posting.currency:
        raise DomainError(
            "currency_mismatch",
            _("Invoice %(invoice)s is in %(currency)s, not %(other_currency)s.")
            % {
                "invoice": invoice,
                "currency": invoice.currency,
                "other_currency": posting.currency,
            },
            field="currency",
        )
    if invoice.customer_id != posting.customer_id:
        raise DomainError(
            "customer_mismatch",
            _("Invoice %(invoice)s belongs to another customer.")
            % {"invoice": invoice},
            field="invoice",
        )


def _check_history(postings: list[Posting]) -> dict[int, tuple[Decimal, date]]:
    """No invoice below zero and no payment's unapplied cash out of range, ever.

    Returns each touched invoice's (open amount, last posting date), read in the
    same grouped query, for :func:`_sync_invoices`.
    """
    invoice_ids = {p.invoice_id for p in postings if p.invoice_id}
    invoice_totals = {}
    for invoice_id, day, balance in _running_balances("invoice_id", invoice_ids):
        if balance < 0:
            raise DomainError(
                "exceeds_open_amount",
                _(
                    "This would take the invoice's open amount below zero (by "
                    "%(balance)s as of %(date)s)."
                )
                % {"balance": -balance, "date": day.isoformat()},
                field=_field_for(postings, invoice_id=invoice_id),
            )
        invoice_totals[invoice_id] = (balance, day)
    payment_ids = {p.payment_id for p in postings if p.payment_id}
    for payment_id, day, on_account in _running_balances(
        "payment_id", payment_ids, invoice__isnull=True
    ):
        if on_account > 0:
            raise DomainError(
                "exceeds_unapplied",
                _(
                    "This would apply more than the payment's unapplied cash (by "
                    "%(on_account)s as of %(date)s)."
                )
                % {"on_account": on_account, "date": day.isoformat()},
                field=_field_for(postings, payment_id=payment_id),
            )
    return invoice_totals


def _field_for(postings, **match) -> str:
    for posting in postings:
        if all(getattr(posting, k) == v for k, v in match.items()):
            return posting.field
    return "amount"


def _running_balances(key: str, ids: set[int], **filters):
    """(id, day, balance at the end of day) for every day with entries, in order.

    One grouped query for all ``ids``; a handful of rows per invoice or payment.
    """
    if not ids:
        return
    per_day = (
        LedgerEntry.objects.filter(**{f"{key}__in": ids}, **filters)
        .values(key, "posting_date", "currency")
        .order_by(key, "posting_date")
        .annotate(total=Sum("amount"))
    )
    running, current = Decimal(0), None
    for row in per_day:
        if row[key] != current:
            running, current = Decimal(0), row[key]
        # SQLite sums decimals as floats (0.30 - 0.10 - 0.20 is not 0 there); every
        # entry is exact in its currency, so the true sum is the quantized one.
        running += quantize(row["total"], row["currency"])
        yield current, row["posting_date"], running


def _sync_invoices(
    invoices: dict[int, Invoice],
    totals: dict[int, tuple[Decimal, date]],
    *,
    actor: Actor,
) -> None:
    """Set cached open amounts from the ledger and derive the payment statuses."""
    fees = fees_by_invoice(
        [pk for pk, invoice in invoices.items() if invoice.status in Invoice.ISSUED]
    )
    for invoice in invoices.values():
        open_amount, last_posting = totals.get(invoice.pk, (Decimal(0), None))
        open_amount = quantize(open_amount, invoice.currency)
        if open_amount != invoice.open_amount:
            Invoice.objects.filter(pk=invoice.pk).update(open_amount=open_amount)
            invoice.open_amount = open_amount
        if invoice.status not in Invoice.ISSUED:
            continue
        derived = payment_status(
            total=invoice.total,
            fees=fees.get(invoice.pk, Decimal(0)),
            open_amount=open_amount,
        )
        if derived != invoice.status:
            transition(
                obj=invoice,
                to_status=derived,
                actor=actor,
                extra_fields={
                    "settled_date": last_posting
                    if derived == Invoice.Status.PAID
                    else None
                },
            )


def unapplied_by_payment(payment_ids) -> dict[int, Decimal]:
    """The ledger's on-account cash per payment (positive = cash not yet applied)."""
    rows = (
        LedgerEntry.objects.filter(payment_id__in=payment_ids, invoice__isnull=True)
        .values("payment_id", "currency")
        .annotate(total=Sum("amount"))
    )
    result = defaultdict(lambda: Decimal(0))
    for row in rows:
        # 0 - total, not -total: a fully applied payment shows 0.00, not -0.00.
        result[row["payment_id"]] = quantize(0 - row["total"], row["currency"])
    return result
