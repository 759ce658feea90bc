"""The dunning run: which notices each day asks for, written before anything is sent.

:func:`dunning_run` runs every day from the one after the last completed run up to
the target date (a machine or beat that was down for days is caught up, day by
day, at most ``MAX_CATCH_UP_DAYS`` back), each through :func:`dunning_run_day`:

1. the day's :class:`~collecting.models.DunningRun` row (unique per organization and
   date) is created or found; a completed one makes the call a no-op, and a row
   lock makes a second run started at the same time wait and then find it done;
2. promises to pay and payment plans are judged as of the day (a broken promise
   resumes the dunning of its invoices from this very run);
3. for each open invoice of a customer not marked do-not-contact nor on hold, and
   not under an open dispute, an active promise or an active payment plan, the
   highest step of the customer's policy reached on the day (due date + offset ≤
   day) is taken, unless that step or a later one was already issued for it.
   A courtesy step (negative offset) is only sent until the due date.
   Steps skipped by a jump (an invoice imported long overdue, a paused invoice
   resuming) are not sent late: a customer hears the step it has reached;
4. one customer's invoices in one currency make one notice at the highest of
   their steps, each invoice listed as an item with its own step and days
   overdue; a notice totalling less than its step's minimum amount is not
   written (the invoices are looked at again the next day);
5. notices and items are written in one transaction with the run's completion,
   and the sending is enqueued once it commits. ``NoticeItem`` is unique per
   (invoice, step), so whatever happens a step is never issued twice for an
   invoice.

A worker killed in the middle rolls the day's transaction back: the run stays
``running`` and the next attempt (the beat's next tick, or a person) does the day
again from scratch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from collecting.models import (
    CustomerCollectionProfile,
    DunningRun,
    DunningStep,
    Notice,
    NoticeItem,
)
from collecting.selectors import PolicyBook, paused_invoices, policy_book
from collecting.services.sending import notices_enqueue
from invoicing.models import Invoice
from o2c.errors import DomainError
from o2c.money import quantize
from o2c.services import Actor, transition
from o2c.tenancy import current_organization
from orders.models import Customer

ACTOR = Actor.system("dunning run")
MAX_CATCH_UP_DAYS = 31
OPEN_STATUSES = (Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID)


def dunning_run(*, target_date: date | None = None, actor: Actor = ACTOR):
    """Run (and catch up to) ``target_date``, default the organization's today."""
    today = current_organization().today()
    target_date = target_date or today
    if target_date > today:
        raise DomainError(
            "future_date",
            f"Dunning cannot run for {target_date.isoformat()}, after today.",
            field="date",
        )
    last = DunningRun.objects.filter(
        status=DunningRun.Status.COMPLETED, run_date__lt=target_date
    ).aggregate(last=Max("run_date"))["last"]
    first = target_date
    if last is not None:
        first = max(
            last + timedelta(days=1), target_date - timedelta(MAX_CATCH_UP_DAYS)
        )
    runs = []
    day = first
    while day <= target_date:
        runs.append(dunning_run_day(day=day, actor=actor))
        day += timedelta(days=1)
    return runs


def dunning_run_day(*, day: date, actor: Actor = ACTOR) -> DunningRun:
    run = _run_row(day)
    if run.status == DunningRun.Status.COMPLETED:
        return run
    with transaction.atomic():
        run = DunningRun.objects.select_for_update().get(pk=run.pk)
        if run.status == DunningRun.Status.COMPLETED:
            return run
        if run.status == DunningRun.Status.FAILED:
            run = transition(obj=run, to_status=DunningRun.Status.RUNNING, actor=actor)
        _judge_commitments(day, actor)
        planned = plan_notices(day=day)
        notice_ids = _write(run, planned)
        run = transition(
            obj=run,
            to_status=DunningRun.Status.COMPLETED,
            actor=actor,
            data={"notices": len(notice_ids)},
            extra_fields={
                "finished_at": timezone.now(),
                "notices_created": len(notice_ids),
                "invoices_noticed": sum(len(p.items) for p in planned),
                "error": "",
            },
        )
        notices_enqueue(notice_ids)
        _refresh_worklist_on_commit(day)
    return run


def dunning_run_failed(*, day: date, error: str) -> None:
    """Record why a day's run stopped (the task calls it on an exception)."""
    run = DunningRun.objects.filter(run_date=day).first()
    if run is not None and run.status == DunningRun.Status.RUNNING:
        transition(
            obj=run,
            to_status=DunningRun.Status.FAILED,
            actor=ACTOR,
            extra_fields={"error": error[:2000]},
        )


def _run_row(day: date) -> DunningRun:
    existing = DunningRun.objects.filter(run_date=day).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return DunningRun.objects.create(
                organization=current_organization(), run_date=day
            )
    except IntegrityError:  # started at the same moment elsewhere
        return DunningRun.objects.get(run_date=day)


def _judge_commitments(day: date, actor: Actor) -> None:
    from collecting.services.commitments import plans_evaluate, promises_evaluate

    promises_evaluate(as_of=day, actor=actor)
    plans_evaluate(as_of=day, actor=actor)


def _refresh_worklist_on_commit(day: date) -> None:
    from collecting.tasks import rebuild_worklist

    organization_id = current_organization().pk
    if day != current_organization().today():
        return  # a catch-up day: the queue is rebuilt for today only

    def enqueue():
        rebuild_worklist.delay(organization_id)

    transaction.on_commit(enqueue, robust=True)


# --- Planning -------------------------------------------------------------------------


@dataclass
class PlannedItem:
    invoice_id: int
    step: DunningStep
    days_overdue: int
    open_amount: Decimal
    interest: Decimal = Decimal(0)


@dataclass
class PlannedNotice:
    customer_id: int
    currency: str
    step: DunningStep
    items: list[PlannedItem] = field(default_factory=list)
    fee: Decimal = Decimal(0)

    @property
    def total(self) -> Decimal:
        return sum((item.open_amount for item in self.items), Decimal(0))


def plan_notices(*, day: date) -> list[PlannedNotice]:
    """The notices ``day`` asks for (nothing is written)."""
    book = policy_book()
    if book.min_offset is None:
        return []
    candidates = list(
        Invoice.objects.filter(
            status__in=OPEN_STATUSES,
            open_amount__gt=0,
            invoice_date__lte=day,
            due_date__lte=day - timedelta(days=book.min_offset),
            customer__do_not_contact=False,
        )
        .order_by()
        .values_list("pk", "customer_id", "currency", "due_date", "open_amount")
    )
    if not candidates:
        return []
    customers = _customer_policies(book, {row[1] for row in candidates})
    paused = paused_invoices()
    issued = _issued(day)
    groups: dict[tuple[int, str], PlannedNotice] = {}
    for invoice_id, customer_id, currency, due_date, open_amount in candidates:
        policy_id = customers.get(customer_id)
        if policy_id is None or invoice_id in paused:
            continue
        step = _highest_reached(book.steps[policy_id], due_date, day)
        if step is None:
            continue
        issued_offset, _ = issued.get(invoice_id, (None, None))
        if issued_offset is not None and step.offset_days <= issued_offset:
            continue
        key = (customer_id, currency)
        item = PlannedItem(
            invoice_id=invoice_id,
            step=step,
            days_overdue=(day - due_date).days,
            open_amount=open_amount,
        )
        notice = groups.get(key)
        if notice is None:
            groups[key] = PlannedNotice(customer_id, currency, step, [item])
        else:
            notice.items.append(item)
            if step.offset_days > notice.step.offset_days:
                notice.step = step
    planned = []
    for notice in groups.values():
        if notice.total < (notice.step.minimum_amount or 0):
            continue
        _price_fee(notice, issued)
        notice.items.sort(key=lambda item: (-item.days_overdue, item.invoice_id))
        planned.append(notice)
    planned.sort(key=lambda notice: (notice.customer_id, notice.currency))
    return planned


def _customer_policies(book: PolicyBook, customer_ids: set[int]) -> dict[int, int]:
    """Customer → policy, for customers not on hold."""
    profiles = {
        row[0]: row[1:]
        for row in CustomerCollectionProfile.objects.filter(
            customer_id__in=customer_ids
        ).values_list("customer_id", "policy_id", "on_hold")
    }
    result = {}
    for customer_id, segment in Customer.objects.filter(
        pk__in=customer_ids
    ).values_list("pk", "segment"):
        assigned_id, on_hold = profiles.get(customer_id, (None, False))
        if on_hold:
            continue
        policy_id = book.policy_for(assigned_id=assigned_id, segment=segment)
        if policy_id is not None and book.steps.get(policy_id):
            result[customer_id] = policy_id
    return result


def _issued(day: date) -> dict[int, tuple[int | None, int | None]]:
    """Per open invoice: the highest offset issued, and the days overdue up to
    which interest was already charged."""
    rows = (
        NoticeItem.objects.filter(
            invoice__status__in=OPEN_STATUSES, offset_days__isnull=False
        )
        .values("invoice_id")
        .annotate(
            offset=Max("offset_days"),
            interest_days=Max("days_overdue", filter=Q(interest_amount__gt=0)),
        )
        .order_by()
    )
    return {row["invoice_id"]: (row["offset"], row["interest_days"]) for row in rows}


def _highest_reached(steps: list[DunningStep], due_date: date, day: date):
    """The last step whose day has come; a courtesy step (before the due date)
    only until the due date: "falls due soon" is not sent about an overdue
    invoice."""
    reached = None
    days_since_due = (day - due_date).days
    for step in steps:  # by offset
        if step.offset_days > days_since_due:
            break
        reached = step
    if reached is not None and reached.offset_days < 0 < days_since_due:
        return None
    return reached


def _price_fee(notice: PlannedNotice, issued) -> None:
    """The notice step's fixed fee plus interest for days not charged yet."""
    step, currency = notice.step, notice.currency
    fee = quantize(step.fee_amount or 0, currency)
    if step.interest_rate:
        for item in notice.items:
            charged_until = issued.get(item.invoice_id, (None, None))[1] or 0
            days = item.days_overdue - max(charged_until, 0)
            if days <= 0:
                continue
            item.interest = quantize(
                item.open_amount * step.interest_rate / 100 * days / 365, currency
            )
            fee += item.interest
    notice.fee = fee


def _write(run: DunningRun, planned: list[PlannedNotice]) -> list[int]:
    organization = current_organization()
    notices = Notice.objects.bulk_create(
        Notice(
            organization=organization,
            customer_id=p.customer_id,
            run=run,
            step=p.step,
            channel=p.step.channel,
            currency=p.currency,
            notice_date=run.run_date,
            total_amount=p.total,
            fee_amount=p.fee,
        )
        for p in planned
    )
    NoticeItem.objects.bulk_create(
        (
            NoticeItem(
                organization=organization,
                notice=notice,
                invoice_id=item.invoice_id,
                step=item.step,
                offset_days=item.step.offset_days,
                days_overdue=item.days_overdue,
                open_amount=item.open_amount,
                interest_amount=item.interest,
            )
            for notice, p in zip(notices, planned, strict=True)
            for item in p.items
        ),
        batch_size=2000,
    )
    return [notice.pk for notice in notices]
