"""A day's invoices from another billing system in one call, all or nothing.

:func:`invoice_batch_create` takes up to :data:`MAX_BATCH` direct invoices and
checks each exactly as :func:`~invoicing.services.invoices.invoice_create` does
(the same pricing, totals, payment terms and due dates, the same errors), naming
the item at fault (``invoices[12].lines[0].unit_price``). Nothing is written
until every item has passed; then the rows go in set-wise — one INSERT per table
for the invoices, their lines and instalments, and, when they are issued, their
ledger debits (through :func:`~invoicing.services.ledger.ledger_post`, all in one
posting), their email deliveries and the audit events — instead of a dozen
statements per invoice.

Issued invoices are numbered in the order given, from one block of the invoice
sequence taken in the same transaction: gap-free, like ``invoice_issue``. The
audit trail is the one the single services leave: ``created`` for each invoice
and, when issued, ``issued`` (draft → open) and the delivery's ``requested``.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

from django.db import IntegrityError
from django.utils import timezone

from invoicing.models import Invoice
from invoicing.services.delivery import invoice_deliveries_on_issue
from invoicing.services.invoices import (
    LineInput,
    as_drafted,
    instalment_rows,
    line_rows,
    post_new_invoices,
    priced_lines,
    set_issued,
    totals_and_schedule,
    write_lines_and_instalments,
)
from o2c.errors import ConflictError, DomainError
from o2c.money import validate_currency
from o2c.rows import insert_instances
from o2c.services import (
    Actor,
    audit_batch,
    audit_record,
    next_numbers,
    service_transaction,
)
from o2c.tenancy import current_organization
from o2c.webhooks import events_emit
from orders.models import Customer

MAX_BATCH = 1_000


@dataclass(frozen=True)
class BatchInvoice:
    """One direct invoice of a batch (the arguments of ``invoice_create``)."""

    customer: Customer
    invoice_date: date
    lines: list[LineInput]
    currency: str | None = None
    due_date: date | None = None
    number: str | None = None
    external_id: str | None = None
    customer_reference: str = ""
    notes: str = ""


@service_transaction
@audit_batch()
def invoice_batch_create(
    *,
    invoices: list[BatchInvoice],
    issue: bool = False,
    email: bool = True,
    actor: Actor,
) -> list[Invoice]:
    """Create ``invoices`` (and issue them when ``issue``) in one transaction.

    The first item that fails refuses the whole batch with its error, the field
    prefixed by ``invoices[<index>].``; nothing is written then.
    """
    if not invoices:
        raise DomainError("required", "Send at least one invoice.", field="invoices")
    if len(invoices) > MAX_BATCH:
        raise DomainError(
            "too_many",
            f"A batch takes at most {MAX_BATCH:,} invoices; got {len(invoices):,}.",
            field="invoices",
        )
    organization = current_organization()
    drafts = []
    for index, item in enumerate(invoices):
        with _item_named(index):
            drafts.append(_checked_draft(organization, item))
    _check_duplicates(drafts)
    created = [invoice for invoice, _ in drafts]
    given_numbers = [invoice.number for invoice in created]  # numbered elsewhere
    if issue:
        _issued_state(created)
    _insert(drafts)
    for invoice in created:
        audit_record(
            actor=actor, obj=invoice, action="created", to_status=Invoice.Status.DRAFT
        )
    # invoice.created shows the draft, as one ``invoice_create`` with ``issue``
    # shows it. Written with the batch's other events in one INSERT (audit_batch).
    events_emit(
        "invoice.created",
        [
            as_drafted(invoice, number=number)
            for invoice, number in zip(created, given_numbers, strict=True)
        ]
        if issue
        else created,
    )
    if issue:
        _post(created, actor=actor, email=email)
        events_emit("invoice.issued", created)
        events_emit(
            "invoice.paid", [i for i in created if i.status == Invoice.Status.PAID]
        )
    return created


@contextmanager
def _item_named(index: int):
    """Prefix a refusal's field with the item's place in the batch."""
    try:
        yield
    except DomainError as error:
        prefix = f"invoices[{index}]"
        error.field = f"{prefix}.{error.field}" if error.field else prefix
        raise


def _checked_draft(organization, item: BatchInvoice):
    """The unsaved draft with its totals and instalments, checked as
    ``invoice_create`` checks one."""
    currency = validate_currency(item.currency or item.customer.currency)
    if not item.lines:
        raise DomainError(
            "required", "An invoice needs at least one line.", field="lines"
        )
    priced = priced_lines(item.lines, currency)
    invoice = Invoice(
        organization=organization,
        customer=item.customer,
        number=item.number or None,
        external_id=item.external_id or None,
        source=Invoice.Source.DIRECT,
        currency=currency,
        invoice_date=item.invoice_date,
        customer_reference=item.customer_reference,
        notes=item.notes,
        open_amount=0,
    )
    schedule = totals_and_schedule(invoice, priced, due_date=item.due_date)
    lines = line_rows(
        organization.pk,
        [(p, line.item, None) for p, line in zip(priced, item.lines, strict=True)],
    )
    instalments = instalment_rows(organization.pk, schedule)
    return invoice, (lines, instalments)


def _check_duplicates(drafts) -> None:
    """A number or external id given twice, in the batch or already on file,
    refuses the batch naming the first item that repeats it."""
    for name in ("number", "external_id"):
        seen: dict[str, int] = {}
        for index, (invoice, _) in enumerate(drafts):
            value = getattr(invoice, name)
            if value is None:
                continue
            if value in seen:
                raise _duplicate(index, name, f"item {seen[value]} of this batch")
            seen[value] = index
        if not seen:
            continue
        taken = set(
            Invoice.objects.filter(**{f"{name}__in": list(seen)}).values_list(
                name, flat=True
            )
        )
        for value, index in seen.items():
            if value in taken:
                raise _duplicate(index, name, "an invoice already on file")


def _duplicate(index: int, name: str, where: str) -> ConflictError:
    label = "number" if name == "number" else "external id"
    return ConflictError(
        "duplicate",
        f"An invoice with this {label} already exists ({where}).",
        field=f"invoices[{index}].{name}",
    )


def _issued_state(invoices: list[Invoice]) -> None:
    """Number the invoices in the given order (one block of the sequence) and
    set what ``invoice_issue`` sets (:func:`set_issued`)."""
    unnumbered = [invoice for invoice in invoices if not invoice.number]
    numbers = next_numbers("invoice", prefix="INV-", count=len(unnumbered))
    for invoice, number in zip(unnumbered, numbers, strict=True):
        invoice.number = number
    issued_at = timezone.now()
    for invoice in invoices:
        set_issued(invoice, issued_at=issued_at)


def _insert(drafts) -> None:
    invoices = [invoice for invoice, _ in drafts]
    try:
        # No savepoint: the error leaves the service, whose own atomic block
        # rolls the transaction back.
        insert_instances(invoices)
    except IntegrityError:
        # Another request took a number or external id since the check above.
        raise ConflictError(
            "duplicate",
            "An invoice with one of these numbers or external ids already exists.",
            field="invoices",
        ) from None
    write_lines_and_instalments(
        [(invoice, lines, instalments) for invoice, (lines, instalments) in drafts]
    )


def _post(invoices: list[Invoice], *, actor: Actor, email: bool) -> None:
    """The rest of ``invoice_issue`` for each: its audit event, its debit in the
    ledger (which sets its open amount) and its email."""
    for invoice in invoices:
        audit_record(
            actor=actor,
            obj=invoice,
            action="issued",
            from_status=Invoice.Status.DRAFT,
            to_status=invoice.status,
        )
    debited = [invoice for invoice in invoices if invoice.total > 0]
    if debited:
        post_new_invoices(debited)
    if email:
        invoice_deliveries_on_issue(invoices=invoices, actor=actor)
