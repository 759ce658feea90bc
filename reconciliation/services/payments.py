"""Payments, allocations, write-offs and their reversals.

A payment posts one credit on the customer's account; allocating it moves cash from
the account to invoices (a ledger pair). Anything not allocated stays on account as
unapplied cash. ``Payment.unapplied_amount`` is refreshed from the ledger by
:func:`_sync_unapplied` after every posting that touches an existing payment; a
new payment's is what its own allocations leave, stored when it is created.
"""

from __future__ import annotations

from copy import copy
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import IntegrityError, transaction

from invoicing.models import Invoice, LedgerEntry
from invoicing.services.ledger import (
    Posting,
    ledger_post,
    ledger_reverse,
    unapplied_by_payment,
)
from o2c.errors import ConflictError, DomainError
from o2c.money import exact_amount, quantize, validate_currency
from o2c.services import Actor, audit_batch, audit_record, next_number, transition
from o2c.tenancy import current_organization
from orders.models import Customer
from reconciliation.models import Allocation, Payment, WriteOff

PAYMENT_DOC = "reconciliation.payment"
ALLOCATION_DOC = "reconciliation.allocation"
WRITE_OFF_DOC = "reconciliation.writeoff"


@dataclass(frozen=True)
class AllocationInput:
    invoice: Invoice
    amount: Decimal
    allocation_date: date | None = None


@transaction.atomic
@audit_batch()
def payment_create(
    *,
    customer: Customer,
    amount,
    currency: str,
    received_date: date,
    method: str = Payment.Method.BANK_TRANSFER,
    reference: str = "",
    payer_name: str = "",
    external_id: str | None = None,
    allocations: list[AllocationInput] = (),
    statement_line=None,
    actor: Actor,
) -> Payment:
    """Record cash received, post it on account, then apply ``allocations``."""
    currency = validate_currency(currency)
    amount = exact_amount(amount, currency)
    if amount <= 0:
        raise DomainError("invalid_amount", "Amount must be positive.", field="amount")
    if method not in Payment.Method.values:
        raise DomainError(
            "invalid_choice", f"Unknown payment method '{method}'.", field="method"
        )
    payment = Payment(
        organization=current_organization(),
        number=next_number("payment", prefix="PAY-"),
        customer=customer,
        method=method,
        amount=amount,
        currency=currency,
        received_date=received_date,
        unapplied_amount=amount,
        reference=reference,
        payer_name=payer_name,
        external_id=external_id or None,
        statement_line=statement_line,
    )
    checked, invoices = _allocations_check(payment, allocations)
    # All of the new payment's entries are posted below, so what its allocations
    # leave is its unapplied cash: stored with the payment, not read back.
    payment.unapplied_amount = amount - sum((a[1] for a in checked), Decimal(0))
    try:
        # No savepoint: the error leaves the service, whose own atomic block
        # rolls the transaction back.
        payment.save()
    except IntegrityError:
        raise ConflictError(
            "duplicate",
            f"A payment with external id '{external_id}' is already recorded.",
            field="external_id",
        ) from None
    applied = _allocations_create(payment, checked)
    postings = [
        Posting(
            customer_id=customer.pk,
            payment_id=payment.pk,
            kind=LedgerEntry.Kind.PAYMENT,
            amount=-amount,
            currency=currency,
            posting_date=received_date,
            document_type=PAYMENT_DOC,
            document_id=payment.pk,
            memo=f"Payment {payment.number}",
        )
    ]
    # The cash and its allocations go to the ledger in one posting: one lock of
    # the invoices, one history check, one refresh of the open amounts.
    for allocation, invoice, field in applied:
        postings += _allocation_postings(payment, allocation, invoice, field)
    audit_record(actor=actor, obj=payment, action="received", to_status=payment.status)
    ledger_post(postings=postings, actor=actor, locked_invoices=invoices)
    for allocation, invoice, _ in applied:
        _audit_allocated(allocation, invoice, actor)
    return payment


def _allocations_check(payment: Payment, allocations) -> tuple[list[tuple], dict]:
    """Check the allocations of a new payment, in order, as
    :func:`allocation_create` would one by one: (invoice, amount, date, field)
    each, and the invoices, locked in one query."""
    invoices = {
        invoice.pk: invoice
        for invoice in Invoice.objects.select_for_update()
        .filter(pk__in={a.invoice.pk for a in allocations})
        .order_by("pk")
    }
    checked = []
    unapplied = payment.amount
    open_amounts: dict[int, Decimal] = {}
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
    return checked, invoices


def _with_open_amount(invoice: Invoice, open_amount: Decimal) -> Invoice:
    """The invoice as an earlier allocation of the same payment leaves it."""
    if open_amount == invoice.open_amount:
        return invoice
    view = copy(invoice)
    view.open_amount = open_amount
    return view


def _allocations_create(payment: Payment, checked: list[tuple]) -> list[tuple]:
    rows = Allocation.objects.bulk_create(
        Allocation(
            organization=payment.organization,
            payment=payment,
            invoice=invoice,
            amount=amount,
            allocation_date=allocation_date,
        )
        for invoice, amount, allocation_date, _ in checked
    )
    return [
        (row, invoice, field)
        for row, (invoice, _, _, field) in zip(rows, checked, strict=True)
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
            "invalid_amount", "Amount must be positive.", field=f"{prefix}amount"
        )
    if amount > unapplied:
        raise DomainError(
            "exceeds_unapplied",
            f"Only {quantize(unapplied, payment.currency)} "
            f"{payment.currency} of payment {payment} is unapplied; got {amount}.",
            field=f"{prefix}amount",
        )
    if amount > invoice.open_amount:
        raise DomainError(
            "exceeds_open_amount",
            f"Invoice {invoice} has "
            f"{quantize(invoice.open_amount, invoice.currency)} "
            f"{invoice.currency} open; got {amount}.",
            field=f"{prefix}amount",
        )
    earliest = max(payment.received_date, invoice.invoice_date)
    allocation_date = allocation_date or earliest
    if allocation_date < earliest:
        raise DomainError(
            "invalid_date",
            "An allocation cannot be dated before the payment or the invoice.",
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


@transaction.atomic
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
            "invalid_status", f"Payment {payment} is {payment.status}.", field="payment"
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
            f"Invoice {invoice} belongs to another customer than payment {payment}.",
            field=f"{prefix}invoice",
        )
    if invoice.currency != payment.currency:
        raise DomainError(
            "currency_mismatch",
            f"Invoice {invoice} is in {invoice.currency}; the payment is in "
            f"{payment.currency}.",
            field=f"{prefix}invoice",
        )
    if not invoice.is_issued:
        raise DomainError(
            "invalid_status",
            f"Invoice {invoice} is {invoice.status}; only issued invoices take cash.",
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
            f"Payment {payment} is already reversed.",
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
            f"A reversal cannot be dated before {latest.isoformat()}, when the "
            f"payment was received, allocated or an allocation reversed.",
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
    return payment


@transaction.atomic
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
            f"Invoice {invoice} is {invoice.status}; only issued invoices are "
            "written off.",
            field="invoice",
        )
    amount = exact_amount(amount, invoice.currency)
    if amount <= 0:
        raise DomainError("invalid_amount", "Amount must be positive.", field="amount")
    if amount > invoice.open_amount:
        raise DomainError(
            "exceeds_open_amount",
            f"Invoice {invoice} has {quantize(invoice.open_amount, invoice.currency)}"
            f" {invoice.currency} open; got {amount}.",
            field="amount",
        )
    limit = organization.write_off_limit
    if limit and amount > limit and actor.role != "admin":
        raise DomainError(
            "over_write_off_limit",
            f"Write-offs above {quantize(limit, invoice.currency)} "
            f"{invoice.currency} need an admin.",
            field="amount",
        )
    if write_off_date < invoice.invoice_date:
        raise DomainError(
            "invalid_date",
            "A write-off cannot be dated before the invoice.",
            field="write_off_date",
        )
    if not (reason or "").strip():
        raise DomainError("required", "Give a reason.", field="reason")
    write_off = WriteOff.objects.create(
        organization=organization,
        invoice=invoice,
        amount=amount,
        currency=invoice.currency,
        write_off_date=write_off_date,
        reason=reason.strip(),
        statement_line=statement_line,
    )
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
    reversal_date = reversal_date or current_organization().today()
    write_off = transition(
        obj=write_off,
        to_status=WriteOff.Status.REVERSED,
        actor=actor,
        extra_fields={"reversal_date": reversal_date},
    )
    ledger_reverse(
        entries=list(_entries(WRITE_OFF_DOC, write_off.pk)),
        posting_date=reversal_date,
        actor=actor,
        date_field="reversal_date",
    )
    return write_off


def _entries(document_type: str, document_id: int):
    return LedgerEntry.objects.filter(
        document_type=document_type, document_id=document_id
    ).exclude(kind=LedgerEntry.Kind.REVERSAL)


def _sync_unapplied(payment: Payment) -> None:
    unapplied = unapplied_by_payment([payment.pk])[payment.pk]
    Payment.objects.filter(pk=payment.pk).update(unapplied_amount=unapplied)
    payment.unapplied_amount = unapplied
