"""Bulk loading of payments, allocations and write-offs.

See ``invoicing.services.bulk`` for the writer and the invoice side.

Each payment is posted on account and each allocation as the same ledger pair that
:func:`reconciliation.services.payments.allocation_create` writes; the payment's
``unapplied_amount`` is written once, final. Credits on invoices must be ones the
invoice was loaded with (:meth:`InvoiceLoader.take_credit` checks it), so invoices'
cached open amounts agree with the ledger at the end of the load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from invoicing.models import LedgerEntry
from invoicing.services.bulk import (
    BulkLoadError,
    InvoiceLoader,
    InvoiceSpec,
    reserve_numbers,
)
from reconciliation.models import Allocation, Payment, WriteOff
from reconciliation.services.payments import ALLOCATION_DOC, PAYMENT_DOC, WRITE_OFF_DOC


@dataclass(slots=True)
class AllocationSpec:
    invoice: InvoiceSpec
    amount: Decimal
    allocation_date: date


@dataclass(slots=True, eq=False)
class PaymentSpec:
    customer_id: int
    currency: str
    received_date: date
    amount: Decimal
    method: str = Payment.Method.BANK_TRANSFER
    reference: str = ""
    payer_name: str = ""
    allocations: list[AllocationSpec] = field(default_factory=list)
    id: int | None = None
    number: str | None = None


@dataclass(slots=True, eq=False)
class WriteOffSpec:
    invoice: InvoiceSpec
    amount: Decimal
    write_off_date: date
    reason: str


class PaymentLoader:
    def __init__(self, invoices: InvoiceLoader):
        self.invoices = invoices
        self.writer = invoices.writer
        self.organization_id = invoices.organization.pk

    def add_payments(self, specs: list[PaymentSpec]) -> None:
        """Number (in the given order) and write payments with their allocations."""
        numbers = reserve_numbers(name="payment", prefix="PAY-", count=len(specs))
        for spec, number in zip(specs, numbers, strict=True):
            self._add_payment(spec, number)

    def _add_payment(self, spec: PaymentSpec, number: str) -> None:
        allocated = sum((a.amount for a in spec.allocations), Decimal(0))
        if spec.amount <= 0 or allocated > spec.amount:
            raise BulkLoadError(
                f"Payment of {spec.amount} cannot carry allocations of {allocated}."
            )
        spec.id, spec.number = self.writer.new_id(Payment), number
        self.writer.add(
            Payment,
            {
                "id": spec.id,
                "organization_id": self.organization_id,
                "number": number,
                "customer_id": spec.customer_id,
                "status": Payment.Status.RECEIVED,
                "method": spec.method,
                "amount": spec.amount,
                "currency": spec.currency,
                "received_date": spec.received_date,
                "unapplied_amount": spec.amount - allocated,
                "reference": spec.reference,
                "payer_name": spec.payer_name,
                "external_id": None,
            },
        )
        self.invoices.ledger_entry(
            customer_id=spec.customer_id,
            payment_id=spec.id,
            kind=LedgerEntry.Kind.PAYMENT,
            amount=-spec.amount,
            currency=spec.currency,
            posting_date=spec.received_date,
            document_type=PAYMENT_DOC,
            document_id=spec.id,
            memo=f"Payment {number}",
        )
        for allocation in spec.allocations:
            self._add_allocation(spec, allocation)

    def _add_allocation(self, payment: PaymentSpec, allocation: AllocationSpec):
        invoice = allocation.invoice
        if (
            invoice.customer_id != payment.customer_id
            or invoice.currency != payment.currency
            or allocation.amount <= 0
            or allocation.allocation_date
            < max(payment.received_date, invoice.invoice_date)
        ):
            raise BulkLoadError(
                f"Allocation of payment {payment.number} to invoice {invoice.number} "
                "does not fit the payment or the invoice."
            )
        self.invoices.take_credit(
            invoice, allocation.amount, allocation.allocation_date
        )
        allocation_id = self.writer.new_id(Allocation)
        self.writer.add(
            Allocation,
            {
                "id": allocation_id,
                "organization_id": self.organization_id,
                "payment_id": payment.id,
                "invoice_id": invoice.id,
                "amount": allocation.amount,
                "allocation_date": allocation.allocation_date,
                "status": Allocation.Status.ACTIVE,
            },
        )
        common = {
            "customer_id": payment.customer_id,
            "payment_id": payment.id,
            "kind": LedgerEntry.Kind.ALLOCATION,
            "currency": payment.currency,
            "posting_date": allocation.allocation_date,
            "document_type": ALLOCATION_DOC,
            "document_id": allocation_id,
            "memo": f"Payment {payment.number} to invoice {invoice.number}",
        }
        self.invoices.ledger_entry(
            invoice_id=invoice.id, amount=-allocation.amount, **common
        )
        self.invoices.ledger_entry(invoice_id=None, amount=allocation.amount, **common)

    def add_write_offs(self, specs: list[WriteOffSpec]) -> None:
        for spec in specs:
            invoice = spec.invoice
            self.invoices.take_credit(invoice, spec.amount, spec.write_off_date)
            write_off_id = self.writer.new_id(WriteOff)
            self.writer.add(
                WriteOff,
                {
                    "id": write_off_id,
                    "organization_id": self.organization_id,
                    "invoice_id": invoice.id,
                    "amount": spec.amount,
                    "currency": invoice.currency,
                    "write_off_date": spec.write_off_date,
                    "reason": spec.reason,
                    "status": WriteOff.Status.POSTED,
                },
            )
            self.invoices.ledger_entry(
                customer_id=invoice.customer_id,
                invoice_id=invoice.id,
                kind=LedgerEntry.Kind.WRITE_OFF,
                amount=-spec.amount,
                currency=invoice.currency,
                posting_date=spec.write_off_date,
                document_type=WRITE_OFF_DOC,
                document_id=write_off_id,
                memo=f"Write-off: {spec.reason}",
            )
