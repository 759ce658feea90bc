"""Invoices and credit notes: create, issue, void, credit."""

from __future__ import annotations

from copy import copy
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from invoicing.models import (
    CreditNote,
    CreditNoteLine,
    Invoice,
    InvoiceInstalment,
    InvoiceLine,
    LedgerEntry,
)
from invoicing.services.delivery import (
    credit_note_delivery_schedule,
    invoice_delivery_on_issue,
)
from invoicing.services.ledger import Posting, ledger_open, ledger_post, ledger_reverse
from o2c.errors import ConflictError, DomainError
from o2c.money import exact_amount, quantize, validate_currency
from o2c.rows import RoundTrip, insert_instances, queue_rows
from o2c.services import (
    Actor,
    audit_batch,
    audit_record,
    next_number,
    service_transaction,
    transition,
)
from o2c.tenancy import current_organization
from o2c.webhooks import event_batch, event_emit
from orders.models import Customer, Item, SalesOrder, SalesOrderLine
from orders.services.orders import order_sync_status
from orders.services.pricing import (
    PricedLine,
    check_total,
    exact_quantity,
    price_line,
)
from orders.services.terms import due_schedule, early_payment_discount


@dataclass(frozen=True)
class LineInput:
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal | None = None
    tax_amount: Decimal | None = None
    item: Item | None = None


@service_transaction
@audit_batch()
def invoice_create(
    *,
    customer: Customer,
    invoice_date: date,
    lines: list[LineInput],
    currency: str | None = None,
    due_date: date | None = None,
    number: str | None = None,
    external_id: str | None = None,
    customer_reference: str = "",
    notes: str = "",
    source: str = Invoice.Source.DIRECT,
    issue: bool = False,
    email: bool = True,
    actor: Actor,
) -> Invoice:
    """A draft invoice entered directly (or received from another billing system).

    ``number`` is for invoices numbered elsewhere; ours are numbered at issue.

    ``issue`` issues it in the same call, as :func:`invoice_issue` right after
    would (``email`` as there): the same rows, audit trail (``created``, then
    ``issued`` from draft) and events (``invoice.created`` showing the draft,
    then ``invoice.issued``), the same numbering. The row is written once,
    already numbered and open, instead of written as a draft, then locked, read
    back and updated: a new row is seen by no other transaction, so there is
    nothing to lock.
    """
    currency = validate_currency(currency or customer.currency)
    if not lines:
        raise DomainError(
            "required", _("An invoice needs at least one line."), field="lines"
        )
    priced = priced_lines(lines, currency)
    invoice = _new_invoice(
        customer=customer,
        currency=currency,
        invoice_date=invoice_date,
        due_date=due_date,
        number=number,
        external_id=external_id,
        customer_reference=customer_reference,
        notes=notes,
        source=source,
        lines=[(p, line.item, None) for p, line in zip(priced, lines, strict=True)],
        issue=issue,
    )
    audit_record(
        actor=actor, obj=invoice, action="created", to_status=Invoice.Status.DRAFT
    )
    if not issue:
        event_emit("invoice.created", invoice)
        return invoice
    event_emit("invoice.created", as_drafted(invoice, number=number))
    _post_issued(invoice, actor=actor, email=email)
    return invoice


def set_issued(invoice: Invoice, *, issued_at: datetime) -> None:
    """Set on a priced, numbered draft what :func:`invoice_issue` sets, before
    its row is first written: open with its whole total open (the debit
    :func:`post_new_invoices` appends), or paid when the total is zero, and the
    early-payment discount as issued."""
    keep_discount_as_issued(invoice)
    invoice.status = Invoice.Status.OPEN if invoice.total > 0 else Invoice.Status.PAID
    invoice.open_amount = invoice.total
    invoice.issued_at = issued_at
    invoice.settled_date = None if invoice.total else invoice.invoice_date


def as_drafted(invoice: Invoice, *, number: str | None) -> Invoice:
    """The invoice as ``invoice_create`` alone leaves it: a draft, unnumbered
    unless numbered elsewhere, nothing open (for its ``invoice.created``)."""
    draft = copy(invoice)
    draft.number = number or None
    draft.status = Invoice.Status.DRAFT
    draft.issued_at = draft.settled_date = None
    draft.discount_percent = draft.discount_date = draft.discount_amount = None
    draft.open_amount = Decimal(0)
    return draft


def _post_issued(invoice: Invoice, *, actor: Actor, email: bool) -> None:
    """The rest of issuing a new invoice whose row was written issued: its debit
    in the ledger, the audit event, the events and the email."""
    issued_status = invoice.status
    if invoice.total > 0:
        post_new_invoices([invoice])
    audit_record(
        actor=actor,
        obj=invoice,
        action="issued",
        from_status=Invoice.Status.DRAFT,
        to_status=issued_status,
    )
    event_emit("invoice.issued", invoice)
    if issued_status == Invoice.Status.PAID:  # a zero total: nothing to pay
        event_emit("invoice.paid", invoice)
    if email:
        invoice_delivery_on_issue(invoice=invoice, actor=actor)


def priced_lines(lines: list[LineInput], currency: str) -> list[PricedLine]:
    return [
        price_line(
            currency=currency,
            description=line.description or (line.item.name if line.item else ""),
            quantity=line.quantity,
            unit_price=exact_amount(
                line.unit_price, currency, field=f"lines[{i}].unit_price"
            ),
            tax_rate=line.tax_rate or 0,
            tax_amount=line.tax_amount,
            field=f"lines[{i}]",
        )
        for i, line in enumerate(lines)
    ]


@transaction.atomic
def invoice_draft_update(
    *,
    invoice: Invoice,
    invoice_date: date,
    due_date: date | None = None,
    customer_reference: str = "",
    notes: str = "",
    lines: list[LineInput] | None = None,
    actor: Actor,
) -> Invoice:
    """Change a draft before it is issued: dates, references and (for a direct
    invoice) its lines. Totals and instalments are recomputed as on creation.

    An order's invoice keeps its lines: they are the order's shipped quantities.
    """
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status != Invoice.Status.DRAFT:
        raise ConflictError(
            "invalid_status",
            _("Invoice %(invoice)s is %(status)s; only drafts are edited.")
            % {"invoice": invoice, "status": invoice.status},
            field="invoice",
        )
    if lines is not None and invoice.source == Invoice.Source.ORDER:
        raise DomainError(
            "order_lines",
            _(
                "The lines of an order's invoice come from its shipments; void the "
                "draft and invoice the order again to change them."
            ),
            field="lines",
        )
    if lines is not None and not lines:
        raise DomainError(
            "required", _("An invoice needs at least one line."), field="lines"
        )
    before = {
        "invoice_date": str(invoice.invoice_date),
        "due_date": str(invoice.due_date),
        "total": str(invoice.total),
    }
    if lines is not None:
        priced = [
            (p, line.item, None)
            for p, line in zip(
                priced_lines(lines, invoice.currency), lines, strict=True
            )
        ]
    else:
        priced = [
            (_priced_from_stored(line), line.item, line.order_line)
            for line in invoice.lines.select_related("item", "order_line")
        ]
    invoice.lines.all().delete()
    invoice.instalments.all().delete()
    invoice.invoice_date = invoice_date
    invoice.customer_reference = customer_reference
    invoice.notes = notes
    _write_lines_and_schedule(invoice, priced, due_date=due_date)
    audit_record(
        actor=actor,
        obj=invoice,
        action="updated",
        data={
            "before": before,
            "after": {
                "invoice_date": str(invoice.invoice_date),
                "due_date": str(invoice.due_date),
                "total": str(invoice.total),
            },
        },
    )
    return invoice


def _priced_from_stored(line: InvoiceLine) -> PricedLine:
    return PricedLine(
        description=line.description,
        quantity=line.quantity,
        unit_price=line.unit_price,
        tax_rate=line.tax_rate,
        net_amount=line.net_amount,
        tax_amount=line.tax_amount,
    )


@transaction.atomic
def invoice_create_from_order(
    *,
    order: SalesOrder,
    invoice_date: date,
    lines: list[tuple[SalesOrderLine, Decimal]] | None = None,
    notes: str = "",
    actor: Actor,
) -> Invoice:
    """Invoice shipped quantities not yet invoiced (all of them when no lines given)."""
    order = SalesOrder.objects.select_for_update().get(pk=order.pk)
    order_lines = {
        line.pk: line
        for line in SalesOrderLine.objects.select_for_update().filter(order=order)
    }
    if lines is None:
        lines = [
            (line, line.quantity_fulfilled - line.quantity_invoiced)
            for line in order_lines.values()
            if line.quantity_fulfilled > line.quantity_invoiced
        ]
        if not lines:
            raise ConflictError(
                "nothing_to_invoice",
                _("Order %(order)s has no shipped quantity left to invoice.")
                % {"order": order},
                field="sales_order",
            )
    if not lines:
        raise DomainError("required", _("Choose a line to invoice."), field="lines")
    invoice_lines = []
    for index, (line, quantity) in enumerate(lines):
        field = f"lines[{index}]"
        order_line = order_lines.get(line.pk)
        if order_line is None:
            raise DomainError(
                "not_on_order",
                _("Line is not on this order."),
                field=f"{field}.order_line",
            )
        invoiceable = order_line.quantity_fulfilled - order_line.quantity_invoiced
        quantity = exact_quantity(quantity, field=f"{field}.quantity")
        if quantity > invoiceable:
            raise DomainError(
                "exceeds_fulfilled",
                _(
                    "%(available)s of line %(position)s are shipped and not invoiced; "
                    "got %(quantity)s."
                )
                % {
                    "available": f"{invoiceable.normalize():f}",
                    "position": order_line.position,
                    "quantity": f"{quantity.normalize():f}",
                },
                field=f"{field}.quantity",
            )
        order_line.quantity_invoiced += quantity
        order_line.save(update_fields=["quantity_invoiced"])
        priced = price_line(
            currency=order.currency,
            description=order_line.description,
            quantity=quantity,
            unit_price=order_line.unit_price,
            tax_rate=order_line.tax_rate,
            field=field,
        )
        invoice_lines.append((priced, order_line.item, order_line))
    invoice = _new_invoice(
        customer=order.customer,
        currency=order.currency,
        invoice_date=invoice_date,
        sales_order=order,
        customer_reference=order.customer_reference,
        notes=notes,
        source=Invoice.Source.ORDER,
        lines=invoice_lines,
    )
    audit_record(actor=actor, obj=invoice, action="created", to_status=invoice.status)
    event_emit("invoice.created", invoice)
    order_sync_status(order=order, actor=actor)
    return invoice


def _new_invoice(
    *,
    customer,
    currency,
    invoice_date,
    lines: list[tuple[PricedLine, Item | None, SalesOrderLine | None]],
    due_date=None,
    number=None,
    external_id=None,
    sales_order=None,
    customer_reference="",
    notes="",
    source,
    issue: bool = False,
) -> Invoice:
    invoice = Invoice(
        organization=current_organization(),
        customer=customer,
        sales_order=sales_order,
        number=number or None,
        external_id=external_id or None,
        source=source,
        currency=currency,
        invoice_date=invoice_date,
        customer_reference=customer_reference,
        notes=notes,
        open_amount=0,
    )
    _write_lines_and_schedule(
        invoice,
        lines,
        due_date=due_date,
        duplicate_field="number" if number else "external_id",
        issue=issue,
    )
    return invoice


def totals_and_schedule(
    invoice: Invoice, priced: list[PricedLine], *, due_date: date | None
) -> list[tuple[date, Decimal]]:
    """Set the invoice's totals and due date from its priced lines (and the
    customer's payment term, unless ``due_date`` overrides it); returns the
    instalments as (due date, amount)."""
    subtotal = sum((p.net_amount for p in priced), Decimal(0))
    tax_total = sum((p.tax_amount for p in priced), Decimal(0))
    total = subtotal + tax_total
    check_total(total, field="lines")
    schedule = due_schedule(
        invoice.customer.payment_term, invoice.invoice_date, total, invoice.currency
    )
    if due_date is not None:
        if due_date < invoice.invoice_date:
            raise DomainError(
                "invalid_date",
                _("Due date is before the invoice date."),
                field="due_date",
            )
        schedule = [(due_date, total)]
    invoice.subtotal, invoice.tax_total, invoice.total = subtotal, tax_total, total
    invoice.due_date = schedule[-1][0] if len(schedule) == 1 else schedule[0][0]
    return schedule


def _write_lines_and_schedule(
    invoice: Invoice,
    lines: list[tuple[PricedLine, Item | None, SalesOrderLine | None]],
    *,
    due_date: date | None,
    duplicate_field: str = "external_id",
    issue: bool = False,
) -> None:
    """Totals and due dates from ``lines``; saves the invoice (new, or a draft
    edited; numbered and issued when ``issue``), its lines and its instalments
    (the invoice has none of either yet)."""
    schedule = totals_and_schedule(invoice, [p for p, _, _ in lines], due_date=due_date)
    if issue:
        # After every check: a refusal leaves the sequence untouched.
        invoice.number = invoice.number or next_number("invoice", prefix="INV-")
        set_issued(invoice, issued_at=timezone.now())
    try:
        # No savepoint: the error leaves the service, whose own atomic block
        # rolls the transaction back.
        if invoice.pk is None:
            insert_instances([invoice])
        else:  # a draft edited
            invoice.save()
    except IntegrityError:
        raise ConflictError(
            "duplicate",
            _("An invoice with this number or external id already exists."),
            field=duplicate_field,
        ) from None
    write_lines_and_instalments(
        [
            (
                invoice,
                line_rows(invoice.organization_id, lines),
                instalment_rows(invoice.organization_id, schedule),
            )
        ]
    )


def line_rows(
    organization_id: int,
    lines: list[tuple[PricedLine, Item | None, SalesOrderLine | None]],
) -> list[dict]:
    """An invoice's line rows (``invoice_id`` still to set), numbered in order."""
    return [
        {
            "organization_id": organization_id,
            "position": position,
            "order_line_id": order_line.pk if order_line else None,
            "item_id": item.pk if item else None,
            **p.columns(),
        }
        for position, (p, item, order_line) in enumerate(lines, start=1)
    ]


def instalment_rows(organization_id: int, schedule) -> list[dict]:
    """An invoice's instalment rows from its (due date, amount) schedule
    (``invoice_id`` still to set)."""
    return [
        {
            "organization_id": organization_id,
            "sequence": sequence,
            "due_date": due,
            "amount": amount,
        }
        for sequence, (due, amount) in enumerate(schedule, start=1)
    ]


def write_lines_and_instalments(
    invoices: list[tuple[Invoice, list[dict], list[dict]]],
) -> None:
    """Insert each just-written invoice's line and instalment rows (from
    :func:`line_rows` and :func:`instalment_rows`): one round trip on
    PostgreSQL, however many invoices."""
    lines, instalments = [], []
    for invoice, invoice_lines, invoice_instalments in invoices:
        for row in (*invoice_lines, *invoice_instalments):
            row["invoice_id"] = invoice.pk
        lines += invoice_lines
        instalments += invoice_instalments
    trip = RoundTrip()
    queue_rows(InvoiceLine, lines, trip)
    queue_rows(InvoiceInstalment, instalments, trip)
    trip.send()


@service_transaction
@audit_batch()
def invoice_issue(*, invoice: Invoice, actor: Actor, email: bool = True) -> Invoice:
    """Number the invoice (unless numbered elsewhere) and post it to the ledger.

    ``email=False`` issues without emailing it (the clerk hands it over another way
    or sends it later from the invoice page).
    """
    # The customer's payment term comes along for the discount as issued; only
    # the invoice row is locked.
    invoice = (
        Invoice.objects.select_for_update(of=("self",))
        .select_related("customer__payment_term")
        .get(pk=invoice.pk)
    )
    if invoice.status != Invoice.Status.DRAFT:
        raise ConflictError(
            "invalid_transition",
            _("Invoice %(invoice)s is already %(status)s.")
            % {"invoice": invoice, "status": invoice.status},
        )
    number = invoice.number or next_number("invoice", prefix="INV-")
    keep_discount_as_issued(invoice)
    if invoice.total > 0:
        # Posted while the row (locked above) is still a draft: the ledger then
        # only sets its open amount, with no status to derive (a draft carries
        # no fees); the status follows in the UPDATE below.
        ledger_post(
            postings=[invoice_debit(invoice, number)],
            actor=actor,
            locked_invoices={invoice.pk: invoice},
        )
    # Number, issue time and status in one UPDATE of the locked row.
    transition(
        obj=invoice,
        to_status=Invoice.Status.OPEN if invoice.total > 0 else Invoice.Status.PAID,
        actor=actor,
        action="issued",
        locked=True,
        extra_fields={
            "number": number,
            "issued_at": timezone.now(),
            "settled_date": None if invoice.total else invoice.invoice_date,
            "discount_percent": invoice.discount_percent,
            "discount_date": invoice.discount_date,
            "discount_amount": invoice.discount_amount,
        },
    )
    event_emit("invoice.issued", invoice)
    if invoice.status == Invoice.Status.PAID:  # a zero total: nothing to pay
        event_emit("invoice.paid", invoice)
    # Writes the pending email row now; the task is enqueued on commit.
    if email:
        invoice_delivery_on_issue(invoice=invoice, actor=actor)
    return invoice


def post_new_invoices(invoices: list[Invoice]) -> None:
    """Post the debits of invoices whose rows were just written issued, their
    totals open (:func:`set_issued`)."""
    ledger_open(
        postings=[invoice_debit(invoice) for invoice in invoices],
        invoices={invoice.pk: invoice for invoice in invoices},
    )


def invoice_debit(invoice: Invoice, number: str | None = None) -> Posting:
    """The ledger debit that issuing ``invoice`` posts (its number may only be
    given, not yet saved, while it is issued)."""
    return Posting(
        customer_id=invoice.customer_id,
        invoice_id=invoice.pk,
        kind=LedgerEntry.Kind.INVOICE,
        amount=invoice.total,
        currency=invoice.currency,
        posting_date=invoice.invoice_date,
        document_type="invoicing.invoice",
        document_id=invoice.pk,
        memo=f"Invoice {number or invoice.number}",
    )


def keep_discount_as_issued(invoice: Invoice) -> None:
    """Copy the customer's early-payment discount onto the invoice: from now on
    the invoice's discount is what it was issued with, whatever the term
    becomes."""
    discount = early_payment_discount(
        invoice.customer.payment_term,
        invoice.invoice_date,
        invoice.total,
        invoice.currency,
    )
    if discount is None:
        invoice.discount_percent = invoice.discount_date = None
        invoice.discount_amount = None
        return
    invoice.discount_percent, invoice.discount_date, invoice.discount_amount = discount


def posted_beyond_issue(entries) -> bool:
    """Whether an invoice's ledger ``entries`` hold more than its issue debit (a
    payment, a credit, a fee): it can then no longer be voided, only credited."""
    return any(entry.kind != LedgerEntry.Kind.INVOICE for entry in entries)


@transaction.atomic
@event_batch()
def invoice_void(
    *, invoice: Invoice, actor: Actor, reason: str = "", void_date: date | None = None
) -> Invoice:
    """Void a draft, or an issued invoice nothing has been applied to yet.

    An issued invoice's ledger debit is reversed on ``void_date`` (default today);
    quantities it billed on a sales order become invoiceable again.
    """
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    entries = list(invoice.ledger_entries.all())
    if posted_beyond_issue(entries):
        raise ConflictError(
            "has_postings",
            _(
                "Payments, credits or fees are posted to this invoice; issue a credit "
                "note instead of voiding it."
            ),
        )
    # Void first: the reversal below then leaves the status alone instead of
    # deriving "paid" from the zero balance.
    invoice = transition(
        obj=invoice,
        to_status=Invoice.Status.VOID,
        actor=actor,
        data={"reason": reason},
    )
    if entries:
        ledger_reverse(
            entries=entries,
            posting_date=void_date or current_organization().today(),
            actor=actor,
            memo=f"Void of invoice {invoice.number}",
            date_field="void_date",
        )
    for line in invoice.lines.exclude(order_line=None):
        SalesOrderLine.objects.filter(pk=line.order_line_id).update(
            quantity_invoiced=F("quantity_invoiced") - line.quantity
        )
    if invoice.sales_order_id:
        order_sync_status(order=invoice.sales_order, actor=actor)
    event_emit("invoice.voided", invoice)
    return invoice


@transaction.atomic
@event_batch()
def credit_note_create(
    *,
    invoice: Invoice,
    credit_date: date,
    reason: str,
    lines: list[LineInput],
    actor: Actor,
) -> CreditNote:
    """Credit part or all of an invoice's open amount."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if not invoice.is_issued:
        raise ConflictError(
            "invalid_status",
            _("Invoice %(invoice)s is %(status)s; only issued invoices are credited.")
            % {"invoice": invoice, "status": invoice.status},
            field="invoice",
        )
    if credit_date < invoice.invoice_date:
        raise DomainError(
            "invalid_date",
            _("A credit note cannot be dated before its invoice."),
            field="credit_date",
        )
    if not (reason or "").strip():
        raise DomainError("required", _("Give a reason."), field="reason")
    if not lines:
        raise DomainError("required", _("A credit note needs a line."), field="lines")
    currency = invoice.currency
    priced = [
        price_line(
            currency=currency,
            description=line.description,
            quantity=line.quantity,
            unit_price=exact_amount(
                line.unit_price, currency, field=f"lines[{i}].unit_price"
            ),
            tax_rate=line.tax_rate or 0,
            tax_amount=line.tax_amount,
            field=f"lines[{i}]",
        )
        for i, line in enumerate(lines)
    ]
    subtotal = sum((p.net_amount for p in priced), Decimal(0))
    tax_total = sum((p.tax_amount for p in priced), Decimal(0))
    total = subtotal + tax_total
    if total <= 0:
        raise DomainError(
            "invalid_amount", _("Credit must be positive."), field="lines"
        )
    if total > invoice.open_amount:
        raise DomainError(
            "exceeds_open_amount",
            _(
                "Credit %(total)s exceeds the invoice's open amount %(open_amount)s "
                "%(currency)s; refund the payment instead."
            )
            % {
                "total": total,
                "open_amount": quantize(invoice.open_amount, currency),
                "currency": currency,
            },
            field="lines",
        )
    organization = current_organization()
    credit_note = CreditNote.objects.create(
        organization=organization,
        number=next_number("credit_note", prefix="CN-"),
        customer_id=invoice.customer_id,
        invoice=invoice,
        currency=currency,
        credit_date=credit_date,
        reason=reason.strip(),
        subtotal=subtotal,
        tax_total=tax_total,
        total=total,
    )
    credit_lines = CreditNoteLine.objects.bulk_create(
        CreditNoteLine(
            organization=organization,
            credit_note=credit_note,
            position=position,
            description=p.description,
            quantity=p.quantity,
            unit_price=p.unit_price,
            net_amount=p.net_amount,
            tax_rate=p.tax_rate,
            tax_amount=p.tax_amount,
        )
        for position, p in enumerate(priced, start=1)
    )
    event_emit("credit_note.issued", credit_note, related={"lines": credit_lines})
    ledger_post(
        postings=[
            Posting(
                customer_id=invoice.customer_id,
                invoice_id=invoice.pk,
                kind=LedgerEntry.Kind.CREDIT_NOTE,
                amount=-total,
                currency=currency,
                posting_date=credit_date,
                document_type="invoicing.creditnote",
                document_id=credit_note.pk,
                memo=f"Credit note {credit_note.number}",
                field="lines",
            )
        ],
        actor=actor,
    )
    audit_record(
        actor=actor, obj=credit_note, action="issued", to_status=credit_note.status
    )
    credit_note_delivery_schedule(credit_note=credit_note, actor=actor)
    return credit_note


@transaction.atomic
def credit_note_void(
    *, credit_note: CreditNote, actor: Actor, void_date: date | None = None
) -> CreditNote:
    entries = list(
        LedgerEntry.objects.filter(
            document_type="invoicing.creditnote",
            document_id=credit_note.pk,
            kind=LedgerEntry.Kind.CREDIT_NOTE,
        )
    )
    credit_note = transition(
        obj=credit_note, to_status=CreditNote.Status.VOID, actor=actor
    )
    ledger_reverse(
        entries=entries,
        posting_date=void_date or current_organization().today(),
        actor=actor,
        memo=f"Void of credit note {credit_note.number}",
        date_field="void_date",
    )
    return credit_note


@transaction.atomic
def fee_post(
    *,
    invoice: Invoice,
    amount: Decimal,
    posting_date: date,
    memo: str,
    document_type: str,
    document_id: int,
    actor: Actor,
) -> LedgerEntry:
    """Charge a fee (dunning fee, interest) on an invoice: a debit on its balance."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    # A draft has no balance yet and a void one must stay at zero.
    if not invoice.is_issued:
        raise ConflictError(
            "invalid_status",
            _("Invoice %(invoice)s is %(status)s; fees go on issued invoices.")
            % {"invoice": invoice, "status": invoice.status},
            field="invoice",
        )
    amount = exact_amount(amount, invoice.currency)
    if amount <= 0:
        raise DomainError(
            "invalid_amount", _("A fee must be positive."), field="amount"
        )
    if posting_date < invoice.invoice_date:
        raise DomainError(
            "invalid_date",
            _("A fee cannot be dated before its invoice."),
            field="posting_date",
        )
    (entry,) = ledger_post(
        postings=[
            Posting(
                customer_id=invoice.customer_id,
                invoice_id=invoice.pk,
                kind=LedgerEntry.Kind.FEE,
                amount=amount,
                currency=invoice.currency,
                posting_date=posting_date,
                document_type=document_type,
                document_id=document_id,
                memo=memo,
            )
        ],
        actor=actor,
    )
    return entry
