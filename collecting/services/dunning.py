"""The dunning run: which notices today asks for, written before anything is sent.

A run is always as of the organization's today. :func:`dunning_run_start` queues
one for a person or an integration (the work happens in the Celery task
``collecting.run_dunning``); :func:`dunning_run` queues and executes one at once
(beat's task, the management command). :func:`dunning_run_execute`:

1. moves the run ``queued → running`` (committed, so the runs page shows it);
2. judges promises to pay and payment plans as of today (a broken promise
   resumes the dunning of its invoices from this very run);
3. plans (:func:`plan_notices`): for each open invoice of a customer not marked
   do-not-contact nor on hold, and not under an open dispute, an active promise or
   an active payment plan, the highest step of the customer's policy reached
   today (due date + offset ≤ today), unless that step or a later one was already
   issued for it. A courtesy step (negative offset) is only sent before the due
   date. Steps passed by a jump (an invoice imported long overdue, a paused
   invoice resuming) are not sent late: a customer hears the step it has reached;
4. one customer's invoices in one currency make **one** notice at the highest of
   their steps, each invoice listed with its own step and its days overdue
   counted to today. A notice below its step's minimum amount is not written (the
   invoices are looked at again the next day);
5. **cadence**: a customer who had an email or letter from the dunning less than
   the policy's ``min_days_between_notices`` ago gets none today (its invoices
   wait and are noticed, at the step they have reached by then, once the
   interval is over); a step's fixed fee is charged to a customer at most once
   per ``fee_period_days``;
6. **catch-up**: after days without a run (a machine or beat that was down) the
   run does not replay the missed days. It writes the one notice of today, and
   records each step that fell due on a missed day and is now passed over as a
   :class:`~collecting.models.PassedOverStep` (the timeline shows "passed over
   during catch-up"); such a step is never sent late;
7. writes notices and items in one transaction with the run's completion and
   enqueues the sending once it commits. ``NoticeItem`` is unique per (invoice,
   step), so a step is never issued twice for an invoice, and a second run of the
   same day adds only what is new.

A worker killed in the middle rolls the writing back: the run stays ``running``;
the task's redelivery executes it again from scratch, and a run left ``running``
longer than ``STALE_RUN`` is failed so that the next one can start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from collecting.models import (
    CustomerCollectionProfile,
    DunningPolicy,
    DunningRun,
    DunningStep,
    Notice,
    NoticeItem,
    PassedOverStep,
)
from collecting.selectors import PolicyBook, paused_invoices, policy_book
from collecting.services.sending import notices_enqueue
from invoicing.models import Invoice
from invoicing.services.bulk import BulkWriter
from o2c import celery
from o2c.errors import ConflictError
from o2c.money import quantize
from o2c.services import Actor, transition
from o2c.tenancy import current_organization
from orders.models import Customer

ACTOR = Actor.system("dunning run")
MAX_CATCH_UP_DAYS = 31
STALE_RUN = timedelta(minutes=45)  # beyond the task's hard time limit
OPEN_STATUSES = (Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID)
#: Channels that send the customer something; the cadence counts these.
MESSAGE_CHANNELS = (DunningStep.Channel.EMAIL, DunningStep.Channel.LETTER)
#: Notices that reached (or may still reach) the customer.
LIVE_NOTICE_STATUSES = (
    Notice.Status.PENDING,
    Notice.Status.SENDING,
    Notice.Status.SENT,
    Notice.Status.UNKNOWN_CHECK,
)
Trigger = DunningRun.Trigger


def dunning_run_start(*, actor: Actor, trigger: str = Trigger.MANUAL) -> DunningRun:
    """Queue a run as of today; ``collecting.run_dunning`` executes it once this
    transaction commits. Refused while another run is queued or running."""
    run = _queue(actor=actor, trigger=trigger)
    organization_id = current_organization().pk

    def enqueue():
        celery.enqueue("collecting.run_dunning", organization_id, run_id=run.pk)

    # robust: with the broker down the run stays queued, and beat's next tick
    # (collecting.schedule_runs) executes it.
    transaction.on_commit(enqueue, robust=True)
    return run


def dunning_run(*, actor: Actor = ACTOR, trigger: str = Trigger.SCHEDULED):
    """Queue a run as of today and execute it now."""
    return dunning_run_execute(run=_queue(actor=actor, trigger=trigger), actor=actor)


@transaction.atomic
def _queue(*, actor: Actor, trigger: str) -> DunningRun:
    organization = current_organization()
    _fail_stale_runs()
    active = DunningRun.objects.filter(status__in=DunningRun.ACTIVE).first()
    if active is not None:
        raise ConflictError(
            "run_in_progress",
            f"A dunning run is already {active.get_status_display().lower()} "
            f"(started {_local_time(active.started_at, organization)}); it must "
            "finish first.",
        )
    try:
        with transaction.atomic():
            return DunningRun.objects.create(
                organization=organization,
                run_date=organization.today(),
                trigger=trigger,
                started_by=actor.user,
            )
    except IntegrityError:  # started at the same moment elsewhere
        raise ConflictError(
            "run_in_progress", "A dunning run was started at the same moment."
        ) from None


def _local_time(moment, organization) -> str:
    return f"{timezone.localtime(moment, organization.tzinfo):%H:%M}"


def _fail_stale_runs() -> None:
    for run in DunningRun.objects.filter(
        status__in=DunningRun.ACTIVE, started_at__lt=timezone.now() - STALE_RUN
    ):
        transition(
            obj=run,
            to_status=DunningRun.Status.FAILED,
            actor=ACTOR,
            extra_fields={
                "error": "The run stopped without finishing; nothing it planned "
                "was written.",
                "finished_at": timezone.now(),
            },
        )


def dunning_run_execute(*, run: DunningRun, actor: Actor = ACTOR) -> DunningRun:
    """Execute a queued run (again, if a worker died while it was running)."""
    with transaction.atomic():
        run = DunningRun.objects.select_for_update().get(pk=run.pk)
        if run.status == DunningRun.Status.QUEUED:
            run = transition(obj=run, to_status=DunningRun.Status.RUNNING, actor=actor)
    if run.status != DunningRun.Status.RUNNING:
        return run
    try:
        return _execute(run, actor)
    except Exception as error:
        transition(
            obj=run,
            to_status=DunningRun.Status.FAILED,
            actor=actor,
            extra_fields={
                "error": f"{type(error).__name__}: {error}"[:2000],
                "finished_at": timezone.now(),
            },
        )
        raise


@transaction.atomic
def _execute(run: DunningRun, actor: Actor) -> DunningRun:
    run = DunningRun.objects.select_for_update().get(pk=run.pk)
    if run.status != DunningRun.Status.RUNNING:
        return run  # another worker finished it meanwhile
    today = current_organization().today()
    caught_up_from = _first_missed_day(today)
    _judge_commitments(today, actor)
    plan = plan_notices(day=today, catch_up_from=caught_up_from)
    notice_ids = _write(run, plan)
    _refresh_statistics(len(notice_ids))
    run = transition(
        obj=run,
        to_status=DunningRun.Status.COMPLETED,
        actor=actor,
        data={"notices": len(notice_ids), "passed_over": len(plan.passed_over)},
        extra_fields={
            "run_date": today,
            "finished_at": timezone.now(),
            "caught_up_from": caught_up_from,
            "notices_created": len(notice_ids),
            "invoices_noticed": sum(len(p.items) for p in plan.notices),
            "steps_passed_over": len(plan.passed_over),
            "customers_held": len(plan.held_customers),
            "error": "",
        },
    )
    notices_enqueue(notice_ids)
    _refresh_worklist_on_commit()
    return run


def _refresh_statistics(written: int) -> None:
    """After a large run, let PostgreSQL's planner see the new rows at once: with
    the statistics of yesterday's small tables it picks nested loops that take
    minutes over a first run's hundred thousand items."""
    if written < 1000 or connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Notice._meta.db_table}, {NoticeItem._meta.db_table}")


def _first_missed_day(today: date) -> date | None:
    """The day after the last completed run, when days were missed since."""
    last = DunningRun.objects.filter(
        status=DunningRun.Status.COMPLETED, run_date__lt=today
    ).aggregate(last=Max("run_date"))["last"]
    if last is None or last + timedelta(days=1) >= today:
        return None
    return max(last + timedelta(days=1), today - timedelta(days=MAX_CATCH_UP_DAYS))


def _judge_commitments(day: date, actor: Actor) -> None:
    from collecting.services.commitments import plans_evaluate, promises_evaluate

    promises_evaluate(as_of=day, actor=actor)
    plans_evaluate(as_of=day, actor=actor)


def _refresh_worklist_on_commit() -> None:
    organization_id = current_organization().pk

    def enqueue():
        celery.enqueue("collecting.rebuild_worklist", organization_id)

    transaction.on_commit(enqueue, robust=True)


# --- Planning -------------------------------------------------------------------------


@dataclass
class PlannedItem:
    invoice_id: int
    step: DunningStep
    days_overdue: int
    open_amount: Decimal
    total: Decimal
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


@dataclass(frozen=True)
class PassedOver:
    customer_id: int
    invoice_id: int
    step: DunningStep
    fell_due_on: date


@dataclass
class Plan:
    notices: list[PlannedNotice] = field(default_factory=list)
    passed_over: list[PassedOver] = field(default_factory=list)
    #: Customers whose notice waits for their policy's interval to pass.
    held_customers: set[int] = field(default_factory=set)


def plan_notices(*, day: date, catch_up_from: date | None = None) -> Plan:
    """What a run on ``day`` would write (nothing is written).

    ``catch_up_from``: the first day the dunning did not run; the steps that fell
    due from then until yesterday and are passed over are listed in
    ``Plan.passed_over``.
    """
    plan = Plan()
    book = policy_book()
    if book.min_offset is None:
        return plan
    candidates = list(
        Invoice.objects.filter(
            status__in=OPEN_STATUSES,
            open_amount__gt=0,
            invoice_date__lte=day,
            due_date__lte=day - timedelta(days=book.min_offset),
            customer__do_not_contact=False,
        )
        .order_by()
        .values_list(
            "pk", "customer_id", "currency", "due_date", "open_amount", "total"
        )
    )
    if not candidates:
        return plan
    customers = _customer_policies(book, {row[1] for row in candidates})
    paused = paused_invoices()
    issued = _issued()
    groups: dict[tuple[int, str], PlannedNotice] = {}
    # Steps passed over, by the notice that would carry the invoice; a courtesy
    # reminder that expired while no run ran is passed over with no notice.
    passed_over: dict[tuple[int, str], list[PassedOver]] = {}
    expired_courtesy: dict[int, list[PassedOver]] = {}
    for invoice_id, customer_id, currency, due_date, open_amount, total in candidates:
        policy_id = customers.get(customer_id)
        if policy_id is None or invoice_id in paused:
            continue
        steps = book.steps[policy_id]
        issued_offset = issued.get(invoice_id, (None, None))[0]
        step = _highest_reached(steps, due_date, day)
        if step is None or (
            issued_offset is not None and step.offset_days <= issued_offset
        ):
            if catch_up_from is not None and (day - due_date).days >= 0:
                # A courtesy reminder that fell due while no run ran, about an
                # invoice due by now: it is not sent any more.
                expired_courtesy.setdefault(customer_id, []).extend(
                    _passed_over(
                        steps, customer_id, invoice_id, due_date, issued_offset,
                        below=0, window=(catch_up_from, day),
                    )
                )  # fmt: skip
            continue
        item = PlannedItem(
            invoice_id=invoice_id,
            step=step,
            days_overdue=(day - due_date).days,
            open_amount=open_amount,
            total=total,
        )
        key = (customer_id, currency)
        notice = groups.get(key)
        if notice is None:
            groups[key] = notice = PlannedNotice(customer_id, currency, step, [])
        notice.items.append(item)
        if step.offset_days > notice.step.offset_days:
            notice.step = step
        if catch_up_from is not None:
            passed_over.setdefault(key, []).extend(
                _passed_over(
                    steps, customer_id, invoice_id, due_date, issued_offset,
                    below=step.offset_days, window=(catch_up_from, day),
                )
            )  # fmt: skip
    intervals = _policy_intervals(book)
    customer_ids = {key[0] for key in groups}
    last_message = _last_message(intervals, customer_ids, day)
    fee_charged = _fees_charged(intervals, customer_ids, day)
    for key, notice in groups.items():
        if notice.total < (notice.step.minimum_amount or 0):
            continue
        last = last_message.get(notice.customer_id)
        interval = intervals[notice.step.policy_id][0]
        if (
            notice.step.channel in MESSAGE_CHANNELS
            and last is not None
            and (day - last).days < interval
        ):
            plan.held_customers.add(notice.customer_id)
            continue
        _price_fee(notice, issued, fee_charged)
        notice.items.sort(key=lambda item: (-item.days_overdue, item.invoice_id))
        plan.notices.append(notice)
        plan.passed_over.extend(passed_over.get(key, ()))
    # A customer held by its interval would not have had the courtesy reminder
    # on its day either: the outage lost nothing there.
    for customer_id, passed in expired_courtesy.items():
        if customer_id not in plan.held_customers:
            plan.passed_over.extend(passed)
    plan.notices.sort(key=lambda notice: (notice.customer_id, notice.currency))
    return plan


def _passed_over(
    steps, customer_id, invoice_id, due_date, issued_offset, *, below, window
) -> list[PassedOver]:
    """Steps under ``below`` not issued yet whose day fell inside ``window``
    (first missed day, today) — excluding today."""
    first, today = window
    result = []
    for step in steps:
        if step.offset_days >= below:
            break
        if issued_offset is not None and step.offset_days <= issued_offset:
            continue
        fell_due_on = due_date + timedelta(days=step.offset_days)
        if first <= fell_due_on < today:
            result.append(PassedOver(customer_id, invoice_id, step, fell_due_on))
    return result


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


def _issued() -> dict[int, tuple[int | None, int | None]]:
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


def _policy_intervals(book: PolicyBook) -> dict[int, tuple[int, int]]:
    """Policy → (days between notices, fee period in days)."""
    return {
        row[0]: row[1:]
        for row in DunningPolicy.objects.filter(pk__in=book.steps).values_list(
            "pk", "min_days_between_notices", "fee_period_days"
        )
    }


def _last_message(intervals, customer_ids: set[int], day: date) -> dict[int, date]:
    """The day of each customer's latest dunning email or letter, within the
    longest interval of any policy (older ones cannot hold anything back)."""
    longest = max((days for days, _ in intervals.values()), default=0)
    if not longest or not customer_ids:
        return {}
    return dict(
        Notice.objects.filter(
            notice_date__gt=day - timedelta(days=longest),
            step__isnull=False,
            channel__in=MESSAGE_CHANNELS,
            status__in=LIVE_NOTICE_STATUSES,
        )
        .values("customer_id")
        .annotate(last=Max("notice_date"))
        .order_by()
        .values_list("customer_id", "last")
    )


def _fees_charged(intervals, customer_ids: set[int], day: date) -> set[tuple[int, int]]:
    """(customer, step) pairs whose fixed fee was charged within the step's
    policy's fee period."""
    longest = max((period for _, period in intervals.values()), default=0)
    if not longest or not customer_ids:
        return set()
    charged = set()
    for customer_id, step_id, policy_id, notice_date in Notice.objects.filter(
        notice_date__gt=day - timedelta(days=longest),
        step__isnull=False,
        fee_amount__gt=0,
        status__in=LIVE_NOTICE_STATUSES,
    ).values_list("customer_id", "step_id", "step__policy_id", "notice_date"):
        period = intervals.get(policy_id, (0, 0))[1]
        if (day - notice_date).days < period:
            charged.add((customer_id, step_id))
    return charged


def _highest_reached(steps: list[DunningStep], due_date: date, day: date):
    """The last step whose day has come; a courtesy step (before the due date)
    only before the due date: "falls due soon" is not sent about an invoice
    that is due or overdue."""
    reached = None
    days_since_due = (day - due_date).days
    for step in steps:  # by offset
        if step.offset_days > days_since_due:
            break
        reached = step
    if reached is not None and reached.offset_days < 0 <= days_since_due:
        return None
    return reached


def _price_fee(notice: PlannedNotice, issued, fee_charged) -> None:
    """The notice step's fixed fee (once per customer and step within the fee
    period) plus simple interest, for the days not charged yet, on each invoice's
    principal still open.

    Payments settle fees and interest before the principal (as German law,
    BGB §367, has it), so the principal open is the smaller of the open amount
    and the invoice's total: interest is never charged on interest or fees."""
    step, currency = notice.step, notice.currency
    fee = Decimal(0)
    if (notice.customer_id, step.pk) not in fee_charged:
        fee = quantize(step.fee_amount or 0, currency)
    if step.interest_rate:
        for item in notice.items:
            charged_until = issued.get(item.invoice_id, (None, None))[1] or 0
            days = item.days_overdue - max(charged_until, 0)
            if days <= 0:
                continue
            principal = min(item.open_amount, item.total)
            item.interest = quantize(
                principal * step.interest_rate / 100 * days / 365, currency
            )
            fee += item.interest
    notice.fee = fee


def _write(run: DunningRun, plan: Plan) -> list[int]:
    """Notices and their items through the bulk writer (PostgreSQL's COPY): a
    first run writes tens of thousands of notices and a hundred thousand items."""
    organization_id = current_organization().pk
    writer = BulkWriter()
    notice_ids = []
    notice_of: dict[tuple[int, int], int] = {}
    for planned in plan.notices:
        notice_id = writer.new_id(Notice)
        notice_ids.append(notice_id)
        writer.add(
            Notice,
            {
                "id": notice_id,
                "organization_id": organization_id,
                "customer_id": planned.customer_id,
                "run_id": run.pk,
                "step_id": planned.step.pk,
                "channel": planned.step.channel,
                "currency": planned.currency,
                "notice_date": run.run_date,
                "total_amount": planned.total,
                "fee_amount": planned.fee,
            },
        )
        for item in planned.items:
            notice_of[(planned.customer_id, item.invoice_id)] = notice_id
            writer.add(
                NoticeItem,
                {
                    "id": writer.new_id(NoticeItem),
                    "organization_id": organization_id,
                    "notice_id": notice_id,
                    "invoice_id": item.invoice_id,
                    "step_id": item.step.pk,
                    "offset_days": item.step.offset_days,
                    "days_overdue": item.days_overdue,
                    "open_amount": item.open_amount,
                    "interest_amount": item.interest,
                },
            )
    writer.flush()
    # Few, and a step may have been passed over already: the ORM skips those.
    PassedOverStep.objects.bulk_create(
        (
            PassedOverStep(
                organization_id=organization_id,
                run=run,
                notice_id=notice_of.get((passed.customer_id, passed.invoice_id)),
                customer_id=passed.customer_id,
                invoice_id=passed.invoice_id,
                step=passed.step,
                fell_due_on=passed.fell_due_on,
            )
            for passed in plan.passed_over
        ),
        batch_size=2000,
        ignore_conflicts=True,
    )
    return notice_ids


# --- Preview --------------------------------------------------------------------------


def dunning_preview(*, limit: int = 100) -> dict:
    """What a run started now would write, without writing anything: totals per
    policy, step, channel and currency, and the ``limit`` largest notices with
    their invoices. (Promises and plans are judged by the run itself, so a
    promise that breaks today is not reflected here yet.)"""
    today = current_organization().today()
    caught_up_from = _first_missed_day(today)
    plan = plan_notices(day=today, catch_up_from=caught_up_from)
    policies = dict(DunningPolicy.objects.values_list("pk", "name"))
    summary: dict[tuple, dict] = {}
    for notice in plan.notices:
        key = (notice.step.policy_id, notice.step.pk, notice.currency)
        row = summary.setdefault(
            key,
            {
                "policy": policies.get(notice.step.policy_id, ""),
                "step": notice.step.name,
                "offset_days": notice.step.offset_days,
                "channel": notice.step.channel,
                "channel_label": notice.step.get_channel_display(),
                "currency": notice.currency,
                "notices": 0,
                "invoices": 0,
                "total": Decimal(0),
                "fees": Decimal(0),
            },
        )
        row["notices"] += 1
        row["invoices"] += len(notice.items)
        row["total"] += notice.total
        row["fees"] += notice.fee
    largest = sorted(plan.notices, key=lambda n: (-n.total, n.customer_id))[:limit]
    return {
        "as_of": today,
        "caught_up_from": caught_up_from,
        "notices_count": len(plan.notices),
        "customers_held": len(plan.held_customers),
        "steps_passed_over": len(plan.passed_over),
        "summary": sorted(
            summary.values(),
            key=lambda r: (r["policy"], r["offset_days"], r["currency"]),
        ),
        "notices": _preview_rows(largest, policies),
    }


def _preview_rows(notices: list[PlannedNotice], policies: dict[int, str]) -> list:
    customers = {
        row[0]: row[1:]
        for row in Customer.objects.filter(
            pk__in={n.customer_id for n in notices}
        ).values_list("pk", "name", "number")
    }
    numbers = dict(
        Invoice.objects.filter(
            pk__in={item.invoice_id for n in notices for item in n.items}
        ).values_list("pk", "number")
    )
    return [
        {
            "customer": notice.customer_id,
            "customer_name": customers[notice.customer_id][0],
            "customer_number": customers[notice.customer_id][1],
            "policy": policies.get(notice.step.policy_id, ""),
            "step": notice.step.name,
            "channel": notice.step.channel,
            "channel_label": notice.step.get_channel_display(),
            "currency": notice.currency,
            "total": notice.total,
            "fee": notice.fee,
            "invoices": [
                {
                    "invoice": item.invoice_id,
                    "number": numbers.get(item.invoice_id, ""),
                    "step": item.step.name,
                    "days_overdue": item.days_overdue,
                    "open_amount": item.open_amount,
                }
                for item in notice.items
            ],
        }
        for notice in notices
    ]
