"""What a statement line becomes: cash applied to invoices (one payment per
customer, through the payment and allocation services), cash on a customer's
account, not receivable, or undone again.

Every change goes through :func:`o2c.services.transition` (audit event with who,
from, to and why) and emits the webhooks ``payment.received`` (per payment) and
``payment.applied`` (per payment that reached invoices).

Each outcome that concerns a customer (matched automatically with its reason,
matched by a person, put on account, undone, reversed by the bank) is also
recorded as an audit event **on the customer** (``cash_*`` actions, see
:func:`_record_on_customers`). The customer's timeline lives in ``collecting``,
which must not import this app; it already reads the customer's own audit
events, through the index on (organization, object type, object id), so the
event carries its title, its words and its amount and the reader needs to know
nothing of statement lines. The line's own audit event stays the record of
the line; the customer's is the account's view of it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext

from invoicing.models import Invoice
from o2c.errors import ConflictError, DomainError
from o2c.money import exact_amount, quantize
from o2c.services import (
    Actor,
    audit_batch,
    audit_record,
    transition,
    transition_many,
)
from o2c.tenancy import current_organization
from orders.models import Customer
from reconciliation.models import (
    Allocation,
    Discount,
    Payment,
    StatementLine,
    WriteOff,
)
from reconciliation.services.bank_accounts import (
    customer_bank_accounts_learn,
    reconciliation_settings,
)
from reconciliation.services.payments import (
    AllocationInput,
    PaymentInput,
    discount_allowed,
    discount_create,
    discount_reverse,
    discount_words,
    payment_reverse,
    payments_create,
    write_off_create,
    write_off_reverse,
)

L = StatementLine


@dataclass(frozen=True)
class LineAllocation:
    invoice: Invoice
    amount: Decimal


@dataclass(frozen=True)
class LineWriteOff:
    invoice: Invoice
    amount: Decimal
    reason: str


@dataclass(frozen=True)
class LineDiscount:
    """The invoice's early-payment discount, granted with the line's cash."""

    invoice: Invoice
    amount: Decimal


@dataclass(frozen=True)
class LineApplication:
    """What :func:`lines_apply` does with one line (see :func:`line_apply`)."""

    line: StatementLine
    allocations: Sequence[LineAllocation] = ()
    on_account: Customer | None = None
    write_offs: Sequence[LineWriteOff] = ()
    discounts: Sequence[LineDiscount] = ()
    automatic: bool = False
    reason: str = ""
    confidence: int | None = None
    learn: bool = True


def line_apply(*, actor: Actor, **fields) -> StatementLine:
    """Apply the line's cash: ``allocations`` (over one or several customers),
    the rest on ``on_account`` (or on the only customer's account), and
    ``write_offs`` of short-paid differences and ``discounts``: early-payment
    discounts of invoices paid within their terms (value date, else booking date,
    no later than the discount date plus the organization's grace days).

    A person's application marks the line ``matched_manual`` (``on_account`` when
    nothing reaches an invoice); the engine's marks it ``matched_auto``. The
    fields are those of :class:`LineApplication`."""
    return lines_apply([LineApplication(**fields)], actor=actor)[0]


@transaction.atomic
@audit_batch()
def lines_apply(
    applications: Sequence[LineApplication], *, actor: Actor, locked: bool = False
) -> list[StatementLine]:
    """:func:`line_apply` for many lines at once, all or nothing: their
    payments go through one :func:`payments_create` (one ledger posting), their
    statuses change in one UPDATE per outcome. ``locked=True`` says the caller
    read the lines under a row lock in this transaction."""
    if locked:
        lines = {a.line.pk: a.line for a in applications}
    else:
        lines = {
            line.pk: line
            for line in L.objects.select_for_update()
            .filter(pk__in=[a.line.pk for a in applications])
            .order_by("pk")
        }
    plans = [_plan(lines[a.line.pk], a) for a in applications]
    payments = iter(
        payments_create([item for plan in plans for item in plan.inputs], actor=actor)
    )
    outcomes: dict[tuple[str, str], list] = defaultdict(list)
    learnt = []
    for plan in plans:
        line, application = plan.line, plan.application
        placed = [_Placed(next(payments), *where) for where in plan.placed]
        _write_off(line, application.write_offs, actor)
        _grant_discounts(line, application.discounts, actor)
        if application.automatic:
            status = L.Status.MATCHED_AUTO
        elif application.allocations:
            status = L.Status.MATCHED_MANUAL
        else:
            status = L.Status.ON_ACCOUNT
        action = "matched" if application.allocations else "put_on_account"
        outcomes[status, action].append(
            (
                line,
                {
                    "reason": application.reason,
                    "confidence": application.confidence,
                    "payments": [item.payment.number for item in placed],
                    "invoices": [
                        {
                            "invoice": a.invoice.number,
                            "amount": str(quantize(a.amount, line.currency)),
                        }
                        for a in application.allocations
                    ],
                },
                {
                    "matched_by": actor.label[:150],
                    "match_reason": application.reason,
                    "confidence": application.confidence,
                    "customer": plan.customers[0],
                },
            )
        )
        if application.learn and len(plan.customers) == 1:
            learnt.append((line, plan.customers[0]))
        _record_on_customers(
            line=line,
            placed=placed,
            action=_CUSTOMER_ACTIONS[status],
            reason=application.reason,
            actor=actor,
        )
    for (status, action), changes in outcomes.items():
        transition_many(changes, to_status=status, actor=actor, action=action)
    customer_bank_accounts_learn(learnt, actor=actor)
    return [plan.line for plan in plans]


@dataclass
class _LinePlan:
    line: StatementLine
    application: LineApplication
    inputs: list[PaymentInput]  # one payment per customer
    placed: list[tuple]  # per payment: (customer, applied, on account)
    customers: list[Customer]


def _plan(line: StatementLine, application: LineApplication) -> _LinePlan:
    """The payments a line's application makes, checked before any is written."""
    _check_open_credit(line)
    allocations = application.allocations
    per_customer = _allocations_per_customer(line, allocations)
    allocated = sum((a.amount for a in allocations), Decimal(0))
    if allocated > line.amount:
        raise DomainError(
            "exceeds_line",
            gettext(
                "Allocations of %(allocated)s exceed the line's %(amount)s "
                "%(currency)s."
            )
            % {
                "allocated": allocated,
                "amount": line.amount,
                "currency": line.currency,
            },
            field="allocations",
        )
    rest = line.amount - allocated
    rest_customer = _customer_for_rest(rest, per_customer, application.on_account)
    if rest_customer is not None:
        per_customer.setdefault(rest_customer, [])
    inputs, placed = [], []
    for customer, customer_allocations in per_customer.items():
        applied = sum((a.amount for a in customer_allocations), Decimal(0))
        amount = applied + (rest if customer == rest_customer else 0)
        inputs.append(
            PaymentInput(
                customer=customer,
                amount=amount,
                currency=line.currency,
                received_date=line.booking_date,
                reference=(line.structured_reference or line.remittance)[:200],
                payer_name=line.payer_name,
                allocations=[
                    AllocationInput(a.invoice, a.amount) for a in customer_allocations
                ],
                statement_line=line,
            )
        )
        placed.append(
            (
                customer,
                [(a.invoice.number, a.amount) for a in customer_allocations],
                amount - applied,
            )
        )
    return _LinePlan(line, application, inputs, placed, list(per_customer))


def _write_off(line, write_offs: Sequence[LineWriteOff], actor: Actor) -> None:
    for write_off in write_offs:
        invoice = write_off.invoice
        write_off_create(
            invoice=invoice,
            amount=write_off.amount,
            write_off_date=max(line.booking_date, invoice.invoice_date),
            reason=write_off.reason,
            statement_line=line,
            actor=actor,
        )


def discount_offered(invoice: Invoice, line: StatementLine) -> Decimal:
    """The early-payment discount a person may grant on ``invoice`` with this
    line's cash: the invoice's own discount while its terms (plus grace days)
    hold on the day the money arrived and the setting is on; zero otherwise."""
    settings = reconciliation_settings()
    if not settings.early_payment_discount or not discount_allowed(
        invoice, line.paid_on, grace_days=settings.discount_grace_days
    ):
        return Decimal(0)
    discount = min(invoice.discount_amount, invoice.open_amount)
    return discount if discount < invoice.open_amount else Decimal(0)


def discounts_for_split(
    line: StatementLine, allocations: list[LineAllocation]
) -> list[LineDiscount]:
    """The discounts a person's split earns: an allocation of exactly the open
    amount less the invoice's discount, within its terms, takes the discount."""
    discounts = []
    for allocation in allocations:
        offered = discount_offered(allocation.invoice, line)
        if offered and allocation.amount == allocation.invoice.open_amount - offered:
            discounts.append(LineDiscount(allocation.invoice, offered))
    return discounts


def _grant_discounts(line, discounts: list[LineDiscount], actor: Actor) -> None:
    if not discounts:
        return
    grace_days = reconciliation_settings().discount_grace_days
    for discount in discounts:
        invoice = discount.invoice
        discount_create(
            invoice=invoice,
            amount=discount.amount,
            discount_date=max(line.booking_date, invoice.invoice_date),
            paid_on=line.paid_on,
            reason=discount_words(invoice, discount.amount, line.paid_on),
            grace_days=grace_days,
            statement_line=line,
            actor=actor,
        )


def _check_open_credit(line: StatementLine) -> None:
    if line.status not in L.OPEN:
        raise ConflictError(
            "invalid_status",
            gettext("Line %(line)s is %(status)s; undo it first.")
            % {"line": line.pk, "status": str(line.get_status_display()).lower()},
            field="status",
        )
    if line.direction != L.Direction.CREDIT or line.is_reversal:
        raise DomainError(
            "not_a_receipt",
            gettext("Only incoming payments are applied to receivables."),
            field="line",
        )


def _allocations_per_customer(line, allocations) -> dict[Customer, list]:
    per_customer: dict[Customer, list] = defaultdict(list)
    for index, allocation in enumerate(allocations):
        invoice = allocation.invoice
        if invoice.currency != line.currency:
            raise DomainError(
                "currency_mismatch",
                gettext(
                    "Invoice %(invoice)s is in %(currency)s; the line is in "
                    "%(line_currency)s."
                )
                % {
                    "invoice": invoice,
                    "currency": invoice.currency,
                    "line_currency": line.currency,
                },
                field=f"allocations[{index}].invoice",
            )
        exact_amount(allocation.amount, line.currency, field=f"allocations[{index}]")
        per_customer[invoice.customer].append(allocation)
    return dict(per_customer)


def _customer_for_rest(rest, per_customer, on_account) -> Customer | None:
    if on_account is not None:
        return on_account
    if rest == 0:
        return None
    if len(per_customer) == 1:
        return next(iter(per_customer))
    raise DomainError(
        "unapplied_rest",
        gettext(
            "%(rest)s of the line is not allocated; name the customer whose account "
            "takes it (on_account)."
        )
        % {"rest": rest},
        field="on_account",
    )


@transaction.atomic
def line_not_receivable(*, line: StatementLine, reason: str, actor: Actor):
    """A credit that is not a customer's payment (a refund, interest, a transfer
    between own accounts): kept out of the receivables with a reason."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("required", gettext("Give a reason."), field="reason")
    line = L.objects.select_for_update().get(pk=line.pk)
    if line.status not in L.OPEN:
        raise ConflictError(
            "invalid_status",
            gettext("Line %(line)s is %(status)s; undo it first.")
            % {"line": line.pk, "status": str(line.get_status_display()).lower()},
            field="status",
        )
    return transition(
        obj=line,
        to_status=L.Status.NOT_RECEIVABLE,
        actor=actor,
        data={"reason": reason},
        extra_fields={
            "note": reason[:300],
            "matched_by": actor.label[:150],
            "match_reason": reason,
        },
    )


@transaction.atomic
def line_undo(*, line: StatementLine, actor: Actor) -> StatementLine:
    """Take back what the line did (its write-offs, allocations and payments,
    through their reversal services) and put it back in the queue as new."""
    line = L.objects.select_for_update().get(pk=line.pk)
    if line.status not in (*L.APPLIED, L.Status.NOT_RECEIVABLE):
        raise ConflictError(
            "invalid_status",
            gettext("Line %(line)s is %(status)s; there is nothing to undo.")
            % {"line": line.pk, "status": str(line.get_status_display()).lower()},
            field="status",
        )
    placed = _placed_so_far(line)
    _reverse_cash(line, actor, reason=f"Undo of bank line {line.pk}")
    _record_on_customers(
        line=line,
        placed=placed,
        action="cash_undone",
        reason=f"{line.get_status_display().lower()} earlier "
        f"({line.match_reason or 'no reason given'}), now taken back",
        actor=actor,
    )
    return transition(
        obj=line,
        to_status=L.Status.NEW,
        actor=actor,
        action="undone",
        data={"was": line.status, "reason": line.match_reason},
        extra_fields={
            "matched_by": "",
            "match_reason": "",
            "confidence": None,
            "customer": None,
            "note": "",
        },
    )


def _reverse_cash(line: StatementLine, actor: Actor, *, reason: str) -> None:
    today = current_organization().today()
    for discount in Discount.objects.filter(
        statement_line=line, status=Discount.Status.POSTED
    ):
        discount_reverse(
            discount=discount,
            reversal_date=max(today, discount.discount_date),
            actor=actor,
        )
    for write_off in WriteOff.objects.filter(
        statement_line=line, status=WriteOff.Status.POSTED
    ):
        write_off_reverse(
            write_off=write_off,
            reversal_date=max(today, write_off.write_off_date),
            actor=actor,
        )
    for payment in Payment.objects.filter(
        statement_line=line, status=Payment.Status.RECEIVED
    ):
        allocation_dates = Allocation.objects.filter(payment=payment).values_list(
            "allocation_date", "reversal_date"
        )
        latest = max(
            [payment.received_date]
            + [max(d for d in pair if d is not None) for pair in allocation_dates]
        )
        payment_reverse(
            payment=payment,
            reversal_date=max(today, latest),
            reason=reason,
            actor=actor,
        )


_CUSTOMER_ACTIONS = {
    L.Status.MATCHED_AUTO: "cash_matched_auto",
    L.Status.MATCHED_MANUAL: "cash_matched_manual",
    L.Status.ON_ACCOUNT: "cash_on_account",
}
_CUSTOMER_TITLES = {
    "cash_matched_auto": "Bank payment matched automatically",
    "cash_matched_manual": "Bank payment matched by a person",
    "cash_on_account": "Bank payment put on account",
    "cash_undone": "Bank payment match undone",
    "cash_reversed": "Bank payment reversed by the bank",
}


@dataclass(frozen=True)
class _Placed:
    """Where one payment of a line put its cash: (invoice number, amount) pairs
    and the rest on the customer's account."""

    payment: Payment
    customer: Customer
    applied: list[tuple[str, Decimal]]
    on_account: Decimal


def _placed_so_far(line: StatementLine) -> list[_Placed]:
    """The line's payments still standing, read before they are reversed."""
    payments = (
        Payment.objects.filter(statement_line=line, status=Payment.Status.RECEIVED)
        .select_related("customer")
        .prefetch_related("allocations__invoice")
        .order_by("pk")
    )
    return [
        _Placed(
            payment,
            payment.customer,
            [
                (a.invoice.number, a.amount)
                for a in payment.allocations.all()
                if a.status == Allocation.Status.ACTIVE
            ],
            payment.unapplied_amount,
        )
        for payment in payments
    ]


def _record_on_customers(*, line, placed, action, reason, actor) -> None:
    """One audit event per customer the line paid, in words a finance person
    reads on the customer's timeline: which bank line, why, and where the
    cash went."""
    payer = line.payer_name or "an unnamed payer"
    for item in placed:
        payment, currency = item.payment, item.payment.currency
        applied = [
            f"{number} {quantize(amount, currency)}" for number, amount in item.applied
        ]
        where = f"applied to {', '.join(applied)}" if applied else "no invoice"
        if item.on_account:
            where += f"; {quantize(item.on_account, currency)} on account"
        audit_record(
            actor=actor,
            obj=item.customer,
            action=action,
            data={
                "title": _CUSTOMER_TITLES[action],
                "detail": f"Bank line of {line.booking_date.isoformat()} from "
                f"{payer}, payment {payment.number}: {reason or 'no reason given'}"
                f" — {where}.",
                "amount": str(quantize(payment.amount, currency)),
                "currency": currency,
                "statement_line": line.pk,
                "payment": payment.number,
            },
        )


def line_reverse_by_bank(*, reversal: StatementLine, actor: Actor) -> bool:
    """The bank took back an earlier credit (a returned direct debit, a recalled
    transfer): reverse what that credit paid and close both lines. A reversal
    whose credit is not found waits in the queue for a person."""
    original = _reversed_credit(reversal)
    if original is None:
        transition(
            obj=reversal,
            to_status=L.Status.NEEDS_REVIEW,
            actor=actor,
            data={"reason": "reversal of a credit not found on this account"},
            extra_fields={
                "match_reason": "The bank reversed a credit that is not on this "
                "account's statements."
            },
        )
        return False
    placed = _placed_so_far(original)
    _reverse_cash(original, actor, reason=f"Reversed by the bank (line {reversal.pk})")
    _record_on_customers(
        line=original,
        placed=placed,
        action="cash_reversed",
        reason=f"the bank took the payment back on {reversal.booking_date}",
        actor=actor,
    )
    transition(
        obj=original,
        to_status=L.Status.REVERSED,
        actor=actor,
        data={"reversal_line": reversal.pk},
        extra_fields={
            "match_reason": f"Reversed by the bank on {reversal.booking_date}."
        },
    )
    transition(
        obj=reversal,
        to_status=L.Status.REVERSED,
        actor=actor,
        data={"reverses": original.pk},
        extra_fields={
            "reversed_line": original,
            "matched_by": actor.label[:150],
            "match_reason": f"Reverses the credit of {original.booking_date}.",
        },
    )
    return True


def _reversed_credit(reversal: StatementLine) -> StatementLine | None:
    same_transaction = Q()
    for name in ("end_to_end_id", "entry_reference"):
        value = getattr(reversal, name)
        if value:
            same_transaction |= Q(**{name: value})
    if not same_transaction:
        return None
    return (
        L.objects.filter(
            same_transaction,
            bank_account=reversal.bank_account,
            direction=L.Direction.CREDIT,
            amount=-reversal.amount,
            is_reversal=False,
            booking_date__lte=reversal.booking_date,
        )
        .exclude(status=L.Status.REVERSED)
        .order_by("-booking_date", "-pk")
        .first()
    )
