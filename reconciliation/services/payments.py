"""Payments, allocations, write-offs and their reversals.

A payment posts one credit on the customer's account; allocating it moves cash from
the account to invoices (a ledger pair). Anything not allocated stays on account as
unapplied cash. ``Payment.unapplied_amount`` is refreshed from the ledger by
:func:`_sync_unapplied` after every posting that touches an existing payment; a
new payment's is what its own allocations leave, stored when it is created.
"""

from __future__ import annotations

from collections.abc import Sequence
from copy import copy
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from invoicing.models import Invoice, LedgerEntry
from invoicing.services.ledger import (
    Posting,
    ledger_post,
    ledger_reverse,
    locked_for_posting,
    unapplied_by_payment,
)
from o2c.errors import ConflictError, DomainError
from o2c.money import exact_amount, quantize, validate_currency
from o2c.rows import insert_instances
from o2c.services import (
    Actor,
    audit_batch,
    audit_record,
    next_numbers,
    service_transaction,
    transition,
)
from o2c.tenancy import current_organization
from o2c.webhooks import event_batch, event_emit, events_emit
from orders.models import Customer
from reconciliation.models import Allocation, Discount, Payment, WriteOff

PAYMENT_DOC = "reconciliation.payment"
ALLOCATION_DOC = "reconciliation.allocation"
WRITE_OFF_DOC = "reconciliation.writeoff"
DISCOUNT_DOC = "reconciliation.discount"


@dataclass(frozen=True)
class AllocationInput:
    invoice: Invoice
    amount: Decimal
    allocation_date: date | None = None


@dataclass(frozen=True)
class PaymentInput:
    """One payment for :func:`payments_create`, as :func:`payment_create` takes it."""

    customer: Customer
    amount: object
    currency: str
    received_date: date
    method: str = Payment.Method.BANK_TRANSFER
    reference: str = ""
    payer_name: str = ""
    external_id: str | None = None
    allocations: Sequence[AllocationInput] = ()
    statement_line: object = None


def payment_create(*, actor: Actor, **fields) -> Payment:
    """Record cash received, post it on account, then apply ``allocations``
    (the fields of :class:`PaymentInput`)."""
    return payments_create([PaymentInput(**fields)], actor=actor)[0]


@service_transaction
@audit_batch()
def payments_create(inputs: Sequence[PaymentInput], *, actor: Actor) -> list[Payment]:
    """Record several payments and their allocations at once: one number
    reservation, one lock of every invoice they pay, one INSERT per table and one
    ledger posting, however many there are. All or nothing; the checks are those
    of one payment, each allocation seeing what the earlier ones (of any of the
    payments) leave of its invoice."""
    if not inputs:
        return []
    payments = [_new_payment(data) for data in inputs]
    numbers = next_numbers("payment", prefix="PAY-", count=len(payments))
    for payment, number in zip(payments, numbers, strict=True):
        payment.number = number
    invoices = {
        invoice.pk: invoice
        for invoice in locked_for_posting(
            Invoice.objects.filter(
                pk__in={a.invoice.pk for data in inputs for a in data.allocations}
            )
        )
    }
    open_amounts: dict[int, Decimal] = {}
    checks = []
    for payment, data in zip(payments, inputs, strict=True):
        checked = _allocations_check(payment, data.allocations, invoices, open_amounts)
        # All of the new payment's entries are posted below, so what its
        # allocations leave is its unapplied cash: stored, not read back.
        payment.unapplied_amount = payment.amount - sum(
            (amount for _, amount, _, _ in checked), Decimal(0)
        )
        checks.append(checked)
    try:
        # No savepoint: the error leaves the service, whose own atomic block
        # rolls the transaction back.
        insert_instances(payments)
    except IntegrityError:
        raise ConflictError(
            "duplicate",
            gettext("A payment with external id '%(id)s' is already recorded.")
            % {"id": ", ".join(p.external_id for p in payments if p.external_id)},
            field="external_id",
        ) from None
    applied = _allocations_create(payments, checks)
    postings = []
    for payment, payment_applied in zip(payments, applied, strict=True):
        postings.append(_receipt_posting(payment))
        # The cash and its allocations go to the ledger in one posting: one
        # lock of the invoices, one history check, one refresh of open amounts.
        for allocation, invoice, field in payment_applied:
            postings += _allocation_postings(payment, allocation, invoice, field)
        audit_record(
            actor=actor, obj=payment, action="received", to_status=payment.status
        )
    # Emitted before the ledger posting, so that an invoice it pays reads in
    # the order it happened: received, applied, paid.
    events_emit(
        "payment.received",
        payments,
        related=[{"allocations": [a for a, _, _ in items]} for items in applied],
    )
    events_emit("payment.applied", [a for items in applied for a, _, _ in items])
    ledger_post(postings=postings, actor=actor, locked_invoices=invoices)
    for payment_applied in applied:
        for allocation, invoice, _ in payment_applied:
            _audit_allocated(allocation, invoice, actor)
    return payments


def _new_payment(data: PaymentInput) -> Payment:
    currency = validate_currency(data.currency)
    amount = exact_amount(data.amount, currency)
    if amount <= 0:
        raise DomainError(
            "invalid_amount", gettext("Amount must be positive."), field="amount"
        )
    if data.method not in Payment.Method.values:
        raise DomainError(
            "invalid_choice",
            gettext("Unknown payment method '%(method)s'.") % {"method": data.method},
            field="method",
        )
    return Payment(
        organization=current_organization(),
        customer=data.customer,
        method=data.method,
        amount=amount,
        currency=currency,
        received_date=data.received_date,
        unapplied_amount=amount,
        reference=data.reference,
        payer_name=data.payer_name,
        external_id=data.external_id or None,
        statement_line=data.statement_line,
    )


def _receipt_posting(payment: Payment) -> Posting:
    return Posting(
        customer_id=payment.customer_id,
        payment_id=payment.pk,
        kind=LedgerEntry.Kind.PAYMENT,
        amount=-payment.amount,
        currency=payment.currency,
        posting_date=payment.received_date,
        document_type=PAYMENT_DOC,
        document_id=payment.pk,
        memo=f"Payment {payment.number}",
    )


def _allocations_check(
    payment: Payment, allocations, invoices: dict[int, Invoice], open_amounts: dict
) -> list[tuple]:
    """Check the allocations of a new payment, in order, as
    :func:`allocation_create` would one by one: (invoice, amount, date, field)
    each. ``invoices`` are locked; ``open_amounts`` is what earlier allocations
    of this call leave of them."""
    checked = []
    unapplied = payment.amount
    for index, allocation in enumerate(allocations):
        prefix = f"allocations[{index}]."
        invoice = invoices.get(allocation.invoice.pk)
        if invoice is None:
            raise DomainError(
                "unknown_invoice", "Invoice not found.", field=f"{prefix}invoice"
            )
        open_amounts.setdefault(invoice.pk, invoice.open_amount)
        amount, allocation_date = _checked_allocation(
            payment,
            _with_open_amount(invoice, open_amounts[invoice.pk]),
            allocation.amount,
            allocation.allocation_date,
            unapplied=unapplied,
            prefix=prefix,
        )
        unapplied -= amount
        open_amounts[invoice.pk] -= amount
        checked.append((invoice, amount, allocation_date, f"{prefix}amount"))
    return checked


def _with_open_amount(invoice: Invoice, open_amount: Decimal) -> Invoice:
    """The invoice as an earlier allocation of the same payment leaves it."""
    if open_amount == invoice.open_amount:
        return invoice
    view = copy(invoice)
    view.open_amount = open_amount
    return view


def _allocations_create(payments: list[Payment], checks: list[list]) -> list[list]:
    """The allocations of new payments in one INSERT: per payment, its
    (allocation, invoice, field) triples."""
    rows = iter(
        insert_instances(
            [
                Allocation(
                    organization=payment.organization,
                    payment=payment,
                    invoice=invoice,
                    amount=amount,
                    allocation_date=allocation_date,
                )
                for payment, checked in zip(payments, checks, strict=True)
                for invoice, amount, allocation_date, _ in checked
            ]
        )
    )
    return [
        [(next(rows), invoice, field) for invoice, _, _, field in checked]
        for checked in checks
    ]


def _checked_allocation(
    payment: Payment,
    invoice: Invoice,
    amount,
    allocation_date: date | None,
    *,
    unapplied: Decimal,
    prefix: str,
) -> tuple[Decimal, date]:
    _check_allocation(payment, invoice, prefix)
    amount = exact_amount(amount, payment.currency, field=f"{prefix}amount")
    if amount <= 0:
        raise DomainError(
            "invalid_amount",
            gettext("Amount must be positive."),
            field=f"{prefix}amount",
        )
    if amount > unapplied:
        raise DomainError(
            "exceeds_unapplied",
            gettext(
                "Only %(unapplied)s %(currency)s of payment %(payment)s is "
                "unapplied; got %(amount)s."
            )
            % {
                "unapplied": quantize(unapplied, payment.currency),
                "currency": payment.currency,
                "payment": payment,
                "amount": amount,
            },
            field=f"{prefix}amount",
        )
    _check_within_open_amount(invoice, amount, field=f"{prefix}amount")
    earliest = max(payment.received_date, invoice.invoice_date)
    allocation_date = allocation_date or earliest
    if allocation_date < earliest:
        raise DomainError(
            "invalid_date",
            gettext("An allocation cannot be dated before the payment or the invoice."),
            field=f"{prefix}allocation_date",
        )
    return amount, allocation_date


def _allocation_postings(payment, allocation, invoice, field) -> list[Posting]:
    common = {
        "customer_id": payment.customer_id,
        "payment_id": payment.pk,
        "kind": LedgerEntry.Kind.ALLOCATION,
        "currency": payment.currency,
        "posting_date": allocation.allocation_date,
        "document_type": ALLOCATION_DOC,
        "document_id": allocation.pk,
        "memo": f"Payment {payment.number} to invoice {invoice.number}",
        "field": field,
    }
    return [
        Posting(invoice_id=invoice.pk, amount=-allocation.amount, **common),
        Posting(invoice_id=None, amount=allocation.amount, **common),
    ]


def _audit_allocated(allocation: Allocation, invoice: Invoice, actor: Actor) -> None:
    audit_record(
        actor=actor,
        obj=allocation,
        action="allocated",
        to_status=allocation.status,
        data={"invoice": invoice.number, "amount": str(allocation.amount)},
    )


@service_transaction
@event_batch()
def allocation_create(
    *,
    payment: Payment,
    invoice: Invoice,
    amount,
    allocation_date: date | None = None,
    actor: Actor,
    field: str = "",
) -> Allocation:
    """Apply ``amount`` of the payment's unapplied cash to ``invoice``."""
    prefix = f"{field}." if field else ""
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if payment.status != Payment.Status.RECEIVED:
        raise ConflictError(
            "invalid_status",
            gettext("Payment %(payment)s is %(status)s.")
            % {"payment": payment, "status": payment.get_status_display().lower()},
            field="payment",
        )
    # The caller's invoice may be stale (voided or issued since it was read).
    locked_invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    amount, allocation_date = _checked_allocation(
        payment,
        locked_invoice,
        amount,
        allocation_date,
        unapplied=payment.unapplied_amount,
        prefix=prefix,
    )
    allocation = Allocation.objects.create(
        organization=payment.organization,
        payment=payment,
        invoice=locked_invoice,
        amount=amount,
        allocation_date=allocation_date,
    )
    event_emit("payment.applied", allocation)
    ledger_post(
        postings=_allocation_postings(
            payment, allocation, locked_invoice, f"{prefix}amount"
        ),
        actor=actor,
    )
    _sync_unapplied(payment)
    _audit_allocated(allocation, locked_invoice, actor)
    return allocation


def _check_allocation(payment: Payment, invoice: Invoice, prefix: str) -> None:
    if invoice.customer_id != payment.customer_id:
        raise DomainError(
            "customer_mismatch",
            gettext(
                "Invoice %(invoice)s belongs to another customer than payment "
                "%(payment)s."
            )
            % {"invoice": invoice, "payment": payment},
            field=f"{prefix}invoice",
        )
    if invoice.currency != payment.currency:
        raise DomainError(
            "currency_mismatch",
            gettext(
                "Invoice %(invoice)s is in %(currency)s; the payment is in "
                "%(payment_currency)s."
            )
            % {
                "invoice": invoice,
                "currency": invoice.currency,
                "payment_currency": payment.currency,
            },
            field=f"{prefix}invoice",
        )
    if not invoice.is_issued:
        raise DomainError(
            "invalid_status",
            gettext(
                "Invoice %(invoice)s is %(status)s; only issued invoices take cash."
            )
            % {"invoice": invoice, "status": invoice.status},
            field=f"{prefix}invoice",
        )


@transaction.atomic
def allocation_reverse(
    *, allocation: Allocation, reversal_date: date | None = None, actor: Actor
) -> Allocation:
    """Take cash back off the invoice and return it to the customer's account."""
    reversal_date = reversal_date or current_organization().today()
    # Payment before allocation before invoice, the order allocation_create and
    # payment_reverse lock in, so concurrent calls queue instead of deadlocking.
    Payment.objects.select_for_update().get(pk=allocation.payment_id)
    allocation = transition(
        obj=allocation,
        to_status=Allocation.Status.REVERSED,
        actor=actor,
        extra_fields={"reversal_date": reversal_date},
    )
    ledger_reverse(
        entries=list(_entries(ALLOCATION_DOC, allocation.pk)),
        posting_date=reversal_date,
        actor=actor,
        date_field="reversal_date",
    )
    _sync_unapplied(allocation.payment)
    return allocation


@transaction.atomic
@event_batch()
def payment_reverse(
    *,
    payment: Payment,
    reversal_date: date | None = None,
    reason: str = "",
    actor: Actor,
) -> Payment:
    """Undo a payment (bounced, entered twice): its allocations first, then the cash.

    The reversal is posted on ``reversal_date``; balances as of earlier dates keep
    showing the payment, as they did on those dates.
    """
    reversal_date = reversal_date or current_organization().today()
    if payment.status == Payment.Status.REVERSED:
        raise ConflictError(
            "already_reversed",
            gettext("Payment %(payment)s is already reversed.") % {"payment": payment},
            field="status",
        )
    allocations = list(payment.allocations.all())
    active = [a for a in allocations if a.status == Allocation.Status.ACTIVE]
    # Cash sat on an invoice until its allocation was reversed: the payment can
    # only be taken back from the account after that date.
    latest = max(
        [payment.received_date]
        + [a.reversal_date or a.allocation_date for a in allocations]
    )
    if reversal_date < latest:
        raise DomainError(
            "invalid_date",
            gettext(
                "A reversal cannot be dated before %(date)s, when the payment was "
                "received, allocated or an allocation reversed."
            )
            % {"date": latest.isoformat()},
            field="reversal_date",
        )
    payment = transition(
        obj=payment,
        to_status=Payment.Status.REVERSED,
        actor=actor,
        data={"reason": reason},
        extra_fields={"reversal_date": reversal_date, "reversal_reason": reason},
    )
    for allocation in active:
        allocation_reverse(
            allocation=allocation, reversal_date=reversal_date, actor=actor
        )
    ledger_reverse(
        entries=list(_entries(PAYMENT_DOC, payment.pk)),
        posting_date=reversal_date,
        actor=actor,
        memo=f"Reversal of payment {payment.number}",
        date_field="reversal_date",
    )
    _sync_unapplied(payment)
    event_emit("payment.reversed", payment)
    return payment


@transaction.atomic
@event_batch()
def write_off_create(
    *,
    invoice: Invoice,
    amount,
    write_off_date: date,
    reason: str,
    statement_line=None,
    actor: Actor,
) -> WriteOff:
    """Write off (part of) an invoice's open amount, within the organization's limit."""
    organization = current_organization()
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if not invoice.is_issued:
        raise ConflictError(
            "invalid_status",
            gettext(
                "Invoice %(invoice)s is %(status)s; only issued invoices are written "
                "off."
            )
            % {"invoice": invoice, "status": invoice.status},
            field="invoice",
        )
    amount = exact_amount(amount, invoice.currency)
    if amount <= 0:
        raise DomainError(
            "invalid_amount", gettext("Amount must be positive."), field="amount"
        )
    _check_within_open_amount(invoice, amount, field="amount")
    limit = organization.write_off_limit
    if limit and amount > limit and actor.role != "admin":
        raise DomainError(
            "over_write_off_limit",
            gettext("Write-offs above %(limit)s %(currency)s need an admin.")
            % {
                "limit": quantize(limit, invoice.currency),
                "currency": invoice.currency,
            },
            field="amount",
        )
    if write_off_date < invoice.invoice_date:
        raise DomainError(
            "invalid_date",
            gettext("A write-off cannot be dated before the invoice."),
            field="write_off_date",
        )
    if not (reason or "").strip():
        raise DomainError("required", gettext("Give a reason."), field="reason")
    write_off = WriteOff.objects.create(
        organization=organization,
        invoice=invoice,
        amount=amount,
        currency=invoice.currency,
        write_off_date=write_off_date,
        reason=reason.strip(),
        statement_line=statement_line,
    )
    event_emit("write_off.created", write_off)
    ledger_post(
        postings=[
            Posting(
                customer_id=invoice.customer_id,
                invoice_id=invoice.pk,
                kind=LedgerEntry.Kind.WRITE_OFF,
                amount=-amount,
                currency=invoice.currency,
                posting_date=write_off_date,
                document_type=WRITE_OFF_DOC,
                document_id=write_off.pk,
                memo=f"Write-off: {write_off.reason}"[:200],
            )
        ],
        actor=actor,
    )
    audit_record(actor=actor, obj=write_off, action="posted", to_status="posted")
    return write_off


@transaction.atomic
def write_off_reverse(
    *, write_off: WriteOff, reversal_date: date | None = None, actor: Actor
) -> WriteOff:
    return _reverse_posted(write_off, WRITE_OFF_DOC, reversal_date, actor=actor)


def discount_allowed(invoice: Invoice, paid_on: date, *, grace_days: int) -> bool:
    """Whether cash received on ``paid_on`` earns the invoice's early-payment
    discount: it has one, and the day is no later than its discount date plus
    the organization's grace days (the time a transfer takes)."""
    if not invoice.has_discount or invoice.discount_date is None:
        return False
    return paid_on <= invoice.discount_date + timedelta(days=grace_days)


def discount_words(invoice: Invoice, amount: Decimal, paid_on: date) -> str:
    """The reason a discount is granted, as a finance person writes it."""
    percent = f"{invoice.discount_percent.normalize():f}"
    return (
        f"{percent} % early-payment discount taken, paid within terms "
        f"({invoice.number}: {quantize(amount, invoice.currency)} "
        f"{invoice.currency}, paid {paid_on.isoformat()}, discount date "
        f"{invoice.discount_date.isoformat()})"
    )


@transaction.atomic
@event_batch()
def discount_create(
    *,
    invoice: Invoice,
    amount,
    discount_date: date,
    reason: str,
    grace_days: int,
    paid_on: date | None = None,
    statement_line=None,
    actor: Actor,
) -> Discount:
    """Grant (part of) the invoice's early-payment discount: a credit of its own
    kind on the ledger, posted on ``discount_date``. Only the discount the
    invoice was issued with, and only for cash that arrived (``paid_on``,
    default the posting date) within its terms plus ``grace_days``."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if not invoice.is_issued:
        raise ConflictError(
            "invalid_status",
            f"Invoice {invoice} is {invoice.status}; only issued invoices take a "
            "discount.",
            field="invoice",
        )
    amount = exact_amount(amount, invoice.currency)
    if amount <= 0:
        raise DomainError("invalid_amount", "Amount must be positive.", field="amount")
    paid_on = paid_on or discount_date
    if not discount_allowed(invoice, paid_on, grace_days=grace_days):
        raise DomainError(
            "no_discount",
            f"Invoice {invoice} has no early-payment discount for a payment of "
            f"{paid_on.isoformat()}"
            + (
                f" (its discount ended on {invoice.discount_date.isoformat()})."
                if invoice.discount_date
                else "."
            ),
            field="discount",
        )
    taken = sum(
        Discount.objects.filter(
            invoice=invoice, status=Discount.Status.POSTED
        ).values_list("amount", flat=True),
        Decimal(0),
    )
    if taken + amount > invoice.discount_amount:
        raise DomainError(
            "exceeds_discount",
            f"Invoice {invoice}'s discount is "
            f"{quantize(invoice.discount_amount, invoice.currency)} "
            f"{invoice.currency}; {quantize(taken, invoice.currency)} taken already.",
            field="discount",
        )
    discount = Discount.objects.create(
        organization=invoice.organization,
        invoice=invoice,
        amount=amount,
        currency=invoice.currency,
        discount_date=max(discount_date, invoice.invoice_date),
        reason=reason[:300],
        statement_line=statement_line,
    )
    ledger_post(
        postings=[
            Posting(
                customer_id=invoice.customer_id,
                invoice_id=invoice.pk,
                kind=LedgerEntry.Kind.DISCOUNT,
                amount=-amount,
                currency=invoice.currency,
                posting_date=discount.discount_date,
                document_type=DISCOUNT_DOC,
                document_id=discount.pk,
                memo=f"Early-payment discount on {invoice.number}"[:200],
                field="discount",
            )
        ],
        actor=actor,
    )
    audit_record(
        actor=actor,
        obj=discount,
        action="posted",
        to_status="posted",
        data={"invoice": invoice.number, "amount": str(amount), "reason": reason},
    )
    return discount


@transaction.atomic
def discount_reverse(
    *, discount: Discount, reversal_date: date | None = None, actor: Actor
) -> Discount:
    return _reverse_posted(
        discount,
        DISCOUNT_DOC,
        reversal_date,
        actor=actor,
        memo=f"Reversal of the early-payment discount on {discount.invoice}",
    )


def _reverse_posted(obj, document_type: str, reversal_date, *, actor, memo=""):
    """Reverse a posted write-off or discount: its status, then its ledger
    entries on ``reversal_date`` (default today)."""
    reversal_date = reversal_date or current_organization().today()
    obj = transition(
        obj=obj,
        to_status=type(obj).Status.REVERSED,
        actor=actor,
        extra_fields={"reversal_date": reversal_date},
    )
    ledger_reverse(
        entries=list(_entries(document_type, obj.pk)),
        posting_date=reversal_date,
        actor=actor,
        memo=memo,
        date_field="reversal_date",
    )
    return obj


def _entries(document_type: str, document_id: int):
    return LedgerEntry.objects.filter(
        document_type=document_type, document_id=document_id
    ).exclude(kind=LedgerEntry.Kind.REVERSAL)


def _sync_unapplied(payment: Payment) -> None:
    unapplied = unapplied_by_payment([payment.pk])[payment.pk]
    Payment.objects.filter(pk=payment.pk).update(unapplied_amount=unapplied)
    payment.unapplied_amount = unapplied


def _check_within_open_amount(invoice: Invoice, amount: Decimal, *, field: str) -> None:
    """An allocation or a write-off takes at most what the invoice has open."""
    if amount > invoice.open_amount:
        raise DomainError(
            "exceeds_open_amount",
            gettext(
                "Invoice %(invoice)s has %(open)s %(currency)s open; got %(amount)s."
            )
            % {
                "invoice": invoice,
                "open": quantize(invoice.open_amount, invoice.currency),
                "currency": invoice.currency,
                "amount": amount,
            },
            field=field,
        )
