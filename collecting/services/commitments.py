"""Promises to pay, disputes and payment plans: the three things that pause dunning.

Payments are read from the receivables ledger in ``invoicing`` (allocation entries,
net of their reversals): ``collecting`` does not import ``reconciliation``.
"""

from __future__ import annotations

from calendar import monthrange
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from collecting.models import (
    CustomerCollectionProfile,
    Dispute,
    DisputeInvoice,
    Notice,
    NoticeItem,
    PaymentPlan,
    PaymentPlanInstalment,
    PaymentPlanInvoice,
    PromiseInvoice,
    PromiseToPay,
    Source,
)
from collecting.selectors import collecting_settings, paid_towards, paused_invoices
from invoicing.models import CreditNote, Invoice, InvoiceLine
from o2c.dates import format_org_date
from o2c.errors import ConflictError, DomainError
from o2c.money import exact_amount, quantize, split_evenly
from o2c.services import Actor, audit_record, transition
from o2c.tenancy import current_organization
from o2c.webhooks import event_emit
from orders.models import Customer

MAX_INSTALMENTS = 60
OPEN_STATUSES = (Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID)


def clean_invoices(customer: Customer, invoices: list[Invoice]) -> tuple[list, str]:
    """The invoices, open, all of ``customer``, in one currency (which is returned)."""
    if not invoices:
        raise DomainError(
            "required", gettext("Choose at least one invoice."), field="invoices"
        )
    invoices = list(
        Invoice.objects.filter(pk__in=[invoice.pk for invoice in invoices]).order_by(
            "due_date", "pk"
        )
    )
    for invoice in invoices:
        if invoice.customer_id != customer.pk:
            raise DomainError(
                "customer_mismatch",
                gettext("Invoice %(invoice)s belongs to another customer.")
                % {"invoice": invoice},
                field="invoices",
            )
        if invoice.status not in OPEN_STATUSES:
            raise ConflictError(
                "invalid_status",
                gettext("Invoice %(invoice)s is %(status)s; only open invoices.")
                % {"invoice": invoice, "status": invoice.status},
                field="invoices",
            )
    currencies = {invoice.currency for invoice in invoices}
    if len(currencies) > 1:
        raise DomainError(
            "currency_mismatch",
            gettext("The invoices are in several currencies; choose one currency."),
            field="invoices",
        )
    return invoices, currencies.pop()


# --- Promises to pay ------------------------------------------------------------------


@transaction.atomic
def promise_create(
    *,
    customer: Customer,
    invoices: list[Invoice],
    amount,
    promised_date: date,
    actor: Actor,
    grace_days: int | None = None,
    note: str = "",
    next_action_date: date | None = None,
    source: str = Source.COLLECTOR,
) -> PromiseToPay:
    """Record a promise; dunning of its invoices pauses and, when nothing else of
    the account is overdue and unpaused, the account leaves the queue until the
    promise date. A call-back date the collector agreed with the customer
    (``next_action_date``) wins over the promise date. A promise the customer
    made in the portal (``source="portal"``) puts the account in today's queue,
    so that a collector sees it (a reason of its row, see the worklist)."""
    invoices, currency = clean_invoices(customer, invoices)
    amount = exact_amount(amount, currency)
    if amount <= 0:
        raise DomainError(
            "invalid_amount", gettext("Amount must be positive."), field="amount"
        )
    today = current_organization().today()
    if promised_date < today:
        raise DomainError(
            "invalid_date",
            gettext("The promise date is in the past."),
            field="promised_date",
        )
    already = paused_invoices(invoice_ids=[invoice.pk for invoice in invoices])
    promised = [i for i in invoices if already.get(i.pk) == "promised"]
    if promised:
        raise ConflictError(
            "already_promised",
            gettext("Invoice %(invoice)s is already under an active promise.")
            % {"invoice": promised[0]},
            field="invoices",
        )
    organization = current_organization()
    promise = PromiseToPay.objects.create(
        organization=organization,
        customer=customer,
        currency=currency,
        amount=amount,
        promised_date=promised_date,
        grace_days=collecting_settings().promise_grace_days
        if grace_days is None
        else grace_days,
        made_on=today,
        note=note,
        source=source,
        created_by=actor.user,
    )
    PromiseInvoice.objects.bulk_create(
        PromiseInvoice(organization=organization, promise=promise, invoice=invoice)
        for invoice in invoices
    )
    audit_record(actor=actor, obj=promise, action="created", to_status=promise.status)
    if source == Source.PORTAL:
        next_action_date = today if next_action_date is None else next_action_date
    if next_action_date is not None:
        _set_next_action(customer, next_action_date)
    elif not _other_overdue(customer, currency, today):
        # Nothing else to chase: the account leaves the queue until the date.
        _set_next_action(customer, promised_date)
    event_emit("promise.made", data=_promise_data(promise, invoices))
    _refresh(customer)
    return promise


@transaction.atomic
def promise_cancel(*, promise: PromiseToPay, actor: Actor, note: str = ""):
    promise = transition(
        obj=promise,
        to_status=PromiseToPay.Status.CANCELLED,
        actor=actor,
        data={"note": note},
    )
    _refresh(promise.customer)
    return promise


def promises_evaluate(*, as_of: date, actor: Actor) -> dict[str, int]:
    """Judge active promises as of the end of ``as_of``.

    Kept as soon as the payments reach the amount; otherwise, once ``as_of`` is
    past the promise date plus its grace days, partially kept (something paid) or
    broken (nothing). Either of those resumes dunning, sets the account's next
    action to ``as_of`` and raises it in the queue.
    """
    counts: dict[str, int] = {}
    active = PromiseToPay.objects.filter(
        status=PromiseToPay.Status.ACTIVE, made_on__lte=as_of
    ).select_related("customer")
    for promise in active:
        outcome = _promise_outcome(promise, as_of)
        if outcome is None:
            continue
        with transaction.atomic():
            _promise_close(promise, outcome, as_of, actor)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _promise_outcome(promise: PromiseToPay, as_of: date) -> str | None:
    invoice_ids = list(
        PromiseInvoice.objects.filter(promise=promise).values_list(
            "invoice_id", flat=True
        )
    )
    paid = paid_towards(invoice_ids, since=promise.made_on, until=as_of)
    promise.paid_amount = quantize(paid, promise.currency)
    all_settled = not Invoice.objects.filter(
        pk__in=invoice_ids, status__in=OPEN_STATUSES
    ).exists()
    if paid >= promise.amount or all_settled:
        return PromiseToPay.Status.KEPT
    if as_of <= promise.promised_date + timedelta(days=promise.grace_days):
        return None
    if paid > 0:
        return PromiseToPay.Status.PARTIALLY_KEPT
    return PromiseToPay.Status.BROKEN


def _promise_close(promise, outcome, as_of, actor) -> None:
    transition(
        obj=promise,
        to_status=outcome,
        actor=actor,
        data={"paid_amount": str(promise.paid_amount), "as_of": as_of.isoformat()},
        extra_fields={
            "paid_amount": promise.paid_amount,
            "evaluated_at": timezone.now(),
        },
    )
    invoice_ids = list(promise.invoices.values_list("pk", flat=True))
    event = "promise.kept" if outcome == PromiseToPay.Status.KEPT else "promise.broken"
    event_emit(event, data=_promise_data(promise, invoice_ids=invoice_ids))
    if outcome != PromiseToPay.Status.KEPT:
        _set_next_action(promise.customer, as_of)
    _refresh(promise.customer)


def _promise_data(promise, invoices=None, invoice_ids=None) -> dict:
    if invoice_ids is None:
        invoice_ids = [invoice.pk for invoice in invoices]
    return {
        "id": promise.pk,
        "promise": promise.pk,
        "customer": promise.customer_id,
        "status": promise.status,
        "amount": str(quantize(promise.amount, promise.currency)),
        "paid_amount": str(quantize(promise.paid_amount, promise.currency)),
        "currency": promise.currency,
        "source": promise.source,
        "promised_date": promise.promised_date.isoformat(),
        "invoices": invoice_ids,
    }


# --- Disputes -------------------------------------------------------------------------


@transaction.atomic
def dispute_open(
    *,
    customer: Customer,
    invoices: list[Invoice],
    reason_code: str,
    actor: Actor,
    owner=None,
    description: str = "",
    source: str = Source.COLLECTOR,
    lines: list[InvoiceLine] | None = None,
    attachment=None,
) -> Dispute:
    """Open a dispute over whole invoices or (``lines``) some of their lines;
    dunning of the invoices pauses at once."""
    if reason_code not in Dispute.Reason.values:
        raise DomainError(
            "invalid_choice",
            gettext("Unknown reason '%(reason)s'.") % {"reason": reason_code},
            field="reason_code",
        )
    invoices, _ = clean_invoices(customer, invoices)
    line_ids = _disputed_lines(invoices, lines or [])
    organization = current_organization()
    dispute = Dispute(
        organization=organization,
        customer=customer,
        reason_code=reason_code,
        description=description,
        owner=owner,
        opened_on=organization.today(),
        source=source,
        line_ids=line_ids,
    )
    if attachment is not None:
        dispute.attachment.save(attachment.name, attachment, save=False)
    dispute.save()
    DisputeInvoice.objects.bulk_create(
        DisputeInvoice(organization=organization, dispute=dispute, invoice=invoice)
        for invoice in invoices
    )
    audit_record(actor=actor, obj=dispute, action="opened", to_status=dispute.status)
    event_emit("dispute.opened", data=_dispute_data(dispute))
    _refresh(customer)
    return dispute


@transaction.atomic
def dispute_resolve(
    *,
    dispute: Dispute,
    resolution: str,
    actor: Actor,
    credit_note: CreditNote | None = None,
    note: str = "",
) -> Dispute:
    """End a dispute: by a credit note (naming it), in the company's favour (dunning
    resumes), or withdrawn by the customer."""
    if resolution not in Dispute.TRANSITIONS[Dispute.Status.OPEN]:
        raise DomainError(
            "invalid_choice",
            gettext("Unknown resolution '%(resolution)s'.")
            % {"resolution": resolution},
            field="resolution",
        )
    if resolution == Dispute.Status.RESOLVED_CREDIT_NOTE:
        if credit_note is None:
            raise DomainError(
                "required",
                gettext("Name the credit note that resolves it."),
                field="credit_note",
            )
        if not dispute.invoices.filter(pk=credit_note.invoice_id).exists():
            raise DomainError(
                "invalid_credit_note",
                gettext("Credit note %(number)s is not for a disputed invoice.")
                % {"number": credit_note},
                field="credit_note",
            )
    elif credit_note is not None:
        raise DomainError(
            "invalid_credit_note",
            gettext("Only a resolution by credit note names one."),
            field="credit_note",
        )
    dispute = transition(
        obj=dispute,
        to_status=resolution,
        actor=actor,
        data={"note": note},
        extra_fields={
            "credit_note": credit_note,
            "resolution_note": note,
            "resolved_at": timezone.now(),
        },
    )
    event_emit("dispute.resolved", data=_dispute_data(dispute))
    _refresh(dispute.customer)
    return dispute


def _disputed_lines(invoices: list[Invoice], lines: list[InvoiceLine]) -> list[int]:
    """The ids of ``lines``, each of one of ``invoices``."""
    invoice_ids = {invoice.pk for invoice in invoices}
    for line in lines:
        if line.invoice_id not in invoice_ids:
            raise DomainError(
                "invalid_line",
                gettext("A disputed line must be one of the disputed invoices."),
                field="lines",
            )
    return sorted({line.pk for line in lines})


def _dispute_data(dispute: Dispute) -> dict:
    return {
        "id": dispute.pk,
        "dispute": dispute.pk,
        "customer": dispute.customer_id,
        "status": dispute.status,
        "source": dispute.source,
        "lines": dispute.line_ids,
        "reason_code": dispute.reason_code,
        "owner": dispute.owner_id,
        "credit_note": dispute.credit_note_id,
        "invoices": list(dispute.invoices.values_list("pk", flat=True)),
    }


# --- Payment plans --------------------------------------------------------------------


@transaction.atomic
def payment_plan_create(
    *,
    customer: Customer,
    invoices: list[Invoice],
    instalments: list[tuple[date, Decimal]] | None = None,
    count: int | None = None,
    first_date: date | None = None,
    interval_days: int = 30,
    interval_months: int | None = None,
    actor: Actor,
    note: str = "",
) -> PaymentPlan:
    """Split the invoices' open balance into instalments: given explicitly
    (dates and amounts summing to the balance), or ``count`` equal ones every
    ``interval_months`` months or ``interval_days`` days from ``first_date``."""
    invoices, currency = clean_invoices(customer, invoices)
    paused = paused_invoices(invoice_ids=[invoice.pk for invoice in invoices])
    if any(reason == "payment_plan" for reason in paused.values()):
        raise ConflictError(
            "already_planned",
            gettext("An invoice is already in an active payment plan."),
            field="invoices",
        )
    balance = sum((invoice.open_amount for invoice in invoices), Decimal(0))
    schedule = _schedule(
        balance,
        currency,
        instalments,
        count,
        first_date,
        (interval_days, interval_months),
    )
    organization = current_organization()
    plan = PaymentPlan.objects.create(
        organization=organization,
        customer=customer,
        currency=currency,
        total_amount=balance,
        start_date=organization.today(),
        note=note,
    )
    PaymentPlanInvoice.objects.bulk_create(
        PaymentPlanInvoice(organization=organization, plan=plan, invoice=invoice)
        for invoice in invoices
    )
    PaymentPlanInstalment.objects.bulk_create(
        PaymentPlanInstalment(
            organization=organization,
            plan=plan,
            sequence=sequence,
            due_date=due,
            amount=amount,
        )
        for sequence, (due, amount) in enumerate(schedule, start=1)
    )
    audit_record(actor=actor, obj=plan, action="created", to_status=plan.status)
    _refresh(customer)
    return plan


def plan_schedule_propose(
    *,
    total: Decimal,
    currency: str,
    count: int,
    first_date: date,
    interval_days: int | None = None,
    interval_months: int | None = None,
) -> list[tuple[date, Decimal]]:
    """``count`` instalments summing exactly to ``total``: equal amounts at the
    currency's minor unit, the rounding remainder on the last; dates every
    ``interval_months`` calendar months (the 31st falls on a shorter month's
    last day) or every ``interval_days`` days from ``first_date``."""
    if not count or count < 1 or count > MAX_INSTALMENTS:
        raise DomainError(
            "invalid_count",
            gettext("Choose 1 to %(max)s instalments.") % {"max": MAX_INSTALMENTS},
            field="count",
        )
    amounts = [
        quantize(amount, currency)
        for amount in split_evenly(total, [Decimal(1)] * count, currency)
    ]
    if interval_months:
        dates = [add_months(first_date, interval_months * i) for i in range(count)]
    else:
        step = timedelta(days=interval_days or 30)
        dates = [first_date + step * i for i in range(count)]
    return list(zip(dates, amounts, strict=True))


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, monthrange(year, month)[1]))


def _schedule(balance, currency, instalments, count, first_date, interval):
    today = current_organization().today()
    if instalments:
        schedule = [
            (due, exact_amount(amount, currency, field=f"instalments[{i}].amount"))
            for i, (due, amount) in enumerate(instalments)
        ]
    else:
        interval_days, interval_months = interval
        first_date = first_date or (
            add_months(today, interval_months)
            if interval_months
            else today + timedelta(days=interval_days)
        )
        if first_date < today:
            raise DomainError(
                "invalid_date",
                gettext("The first instalment cannot be in the past."),
                field="first_date",
            )
        schedule = plan_schedule_propose(
            total=balance,
            currency=currency,
            count=count,
            first_date=first_date,
            interval_days=interval_days,
            interval_months=interval_months,
        )
    _check_schedule(schedule, balance, currency, today)
    return schedule


def _check_schedule(schedule, balance, currency, today) -> None:
    """Each row names itself (``instalments[1].due_date`` is the second's date):
    positive amounts, dates from today on and each after the one before, and a
    sum equal to the balance."""
    previous = None
    for index, (due, amount) in enumerate(schedule):
        row = f"instalments[{index}]"
        if amount <= 0:
            raise DomainError(
                "invalid_amount",
                gettext("Instalment %(number)s: the amount must be positive.")
                % {"number": index + 1},
                field=f"{row}.amount",
            )
        if due < today:
            raise DomainError(
                "invalid_date",
                gettext("Instalment %(number)s: %(date)s is in the past.")
                % {"number": index + 1, "date": format_org_date(due)},
                field=f"{row}.due_date",
            )
        if previous is not None and due <= previous:
            raise DomainError(
                "invalid_date",
                gettext(
                    "Instalment %(number)s: %(date)s must come after instalment "
                    "%(previous_number)s's date, %(previous)s."
                )
                % {
                    "number": index + 1,
                    "date": format_org_date(due),
                    "previous_number": index,
                    "previous": format_org_date(previous),
                },
                field=f"{row}.due_date",
            )
        previous = due
    scheduled = sum((amount for _, amount in schedule), Decimal(0))
    if scheduled != balance:
        difference = quantize(balance - scheduled, currency)
        raise DomainError(
            "instalments_mismatch",
            gettext(
                "Instalments must add up to the open balance %(balance)s "
                "%(currency)s; they add up to %(scheduled)s %(currency)s "
                "(%(difference)s %(currency)s)."
            )
            % {
                "balance": quantize(balance, currency),
                "scheduled": quantize(scheduled, currency),
                "difference": f"{difference:+}",
                "currency": currency,
            },
            field="instalments",
        )


@transaction.atomic
def payment_plan_cancel(*, plan: PaymentPlan, actor: Actor, note: str = ""):
    plan = transition(
        obj=plan,
        to_status=PaymentPlan.Status.CANCELLED,
        actor=actor,
        data={"note": note},
    )
    _refresh(plan.customer)
    return plan


def plans_evaluate(*, as_of: date, actor: Actor) -> None:
    """Instalments paid (payments count in date order), chased, or breaking the plan.

    An instalment unpaid ``plan_grace_days`` after its date gets one reminder
    notice; unpaid ``PaymentPlan.BREAK_AFTER_DAYS`` after it, the plan is broken
    and the invoices go back to dunning. A plan whose instalments (or invoices)
    are all paid is completed.
    """
    grace = timedelta(days=collecting_settings().plan_grace_days)
    plans = PaymentPlan.objects.filter(
        status=PaymentPlan.Status.ACTIVE, start_date__lte=as_of
    ).select_related("customer")
    for plan in plans:
        with transaction.atomic():
            _plan_evaluate(plan, as_of, grace, actor)


def _plan_evaluate(plan: PaymentPlan, as_of: date, grace, actor) -> None:
    invoice_ids = list(
        PaymentPlanInvoice.objects.filter(plan=plan).values_list(
            "invoice_id", flat=True
        )
    )
    paid = paid_towards(invoice_ids, since=plan.start_date, until=as_of)
    covered = Decimal(0)
    all_paid, broken = True, False
    for instalment in plan.instalments.order_by("sequence"):
        covered += instalment.amount
        if paid >= covered:
            if instalment.status != PaymentPlanInstalment.Status.PAID:
                transition(
                    obj=instalment,
                    to_status=PaymentPlanInstalment.Status.PAID,
                    actor=actor,
                )
            continue
        all_paid = False
        if as_of > instalment.due_date:
            if instalment.status == PaymentPlanInstalment.Status.PENDING:
                transition(
                    obj=instalment,
                    to_status=PaymentPlanInstalment.Status.OVERDUE,
                    actor=actor,
                )
            if as_of > instalment.due_date + grace:
                _instalment_reminder(plan, instalment, invoice_ids, as_of)
            if as_of > instalment.due_date + timedelta(PaymentPlan.BREAK_AFTER_DAYS):
                broken = True
    still_open = Invoice.objects.filter(
        pk__in=invoice_ids, status__in=OPEN_STATUSES
    ).exists()
    if all_paid or not still_open:
        transition(obj=plan, to_status=PaymentPlan.Status.COMPLETED, actor=actor)
        _refresh(plan.customer)
    elif broken:
        transition(obj=plan, to_status=PaymentPlan.Status.BROKEN, actor=actor)
        _set_next_action(plan.customer, as_of)
        _refresh(plan.customer)


def _instalment_reminder(plan, instalment, invoice_ids, as_of) -> None:
    from collecting.services.sending import notices_enqueue

    if Notice.objects.filter(plan_instalment=instalment).exists():
        return
    organization = current_organization()
    invoices = list(
        Invoice.objects.filter(pk__in=invoice_ids, status__in=OPEN_STATUSES)
    )
    notice = Notice.objects.create(
        organization=organization,
        customer=plan.customer,
        plan_instalment=instalment,
        channel=Notice._meta.get_field("channel").choices[0][0],
        currency=plan.currency,
        notice_date=as_of,
        total_amount=instalment.amount,
    )
    NoticeItem.objects.bulk_create(
        NoticeItem(
            organization=organization,
            notice=notice,
            invoice=invoice,
            days_overdue=(as_of - invoice.due_date).days,
            open_amount=invoice.open_amount,
        )
        for invoice in invoices
    )
    notices_enqueue([notice.pk])


def _other_overdue(customer: Customer, currency: str, today: date) -> bool:
    """Whether the customer has overdue invoices in ``currency`` not paused."""
    overdue = list(
        Invoice.objects.filter(
            customer=customer,
            currency=currency,
            status__in=OPEN_STATUSES,
            due_date__lt=today,
        ).values_list("pk", flat=True)
    )
    paused = paused_invoices(invoice_ids=overdue)
    return any(invoice_id not in paused for invoice_id in overdue)


# --- Shared ---------------------------------------------------------------------------


def _set_next_action(customer: Customer, day: date) -> None:
    profile, _ = CustomerCollectionProfile.objects.get_or_create(
        customer=customer, defaults={"organization": current_organization()}
    )
    profile.next_action_date = day
    profile.save(update_fields=["next_action_date"])


def _refresh(customer: Customer) -> None:
    from collecting.services.worklist import worklist_refresh

    worklist_refresh(customer=customer)
