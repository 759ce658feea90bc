"""Reads of the collections stage: settings, paused invoices, policies per customer,
the collector's queue and the customer timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from django.db.models import BooleanField, Count, ExpressionWrapper, Q, QuerySet
from django.utils import timezone

from collecting.models import (
    Activity,
    CollectingSettings,
    CustomerCollectionProfile,
    Dispute,
    DisputeInvoice,
    DunningPolicy,
    DunningRun,
    DunningStep,
    Notice,
    PassedOverStep,
    PaymentPlan,
    PaymentPlanInvoice,
    PromiseInvoice,
    PromiseToPay,
    WorklistEntry,
)
from invoicing.models import Invoice, LedgerEntry
from o2c.models import AuditEvent
from o2c.tenancy import current_organization
from orders.models import Customer

PAUSE_DISPUTE = "disputed"
PAUSE_PROMISE = "promised"
PAUSE_PLAN = "payment_plan"


def collecting_settings() -> CollectingSettings:
    """The organization's settings row, or the defaults when it has none yet."""
    organization = current_organization()
    found = CollectingSettings.objects.first()
    return found or CollectingSettings(organization=organization)


def paused_invoices(*, invoice_ids=None) -> dict[int, str]:
    """Invoices whose dunning is paused, with why: an open dispute, an active
    promise to pay or an active payment plan (``None``: all of them)."""
    sources = [
        (
            PAUSE_DISPUTE,
            DisputeInvoice.objects.filter(dispute__status=Dispute.Status.OPEN),
        ),
        (
            PAUSE_PROMISE,
            PromiseInvoice.objects.filter(promise__status=PromiseToPay.Status.ACTIVE),
        ),
        (
            PAUSE_PLAN,
            PaymentPlanInvoice.objects.filter(plan__status=PaymentPlan.Status.ACTIVE),
        ),
    ]
    paused: dict[int, str] = {}
    for reason, rows in sources:
        if invoice_ids is not None:
            rows = rows.filter(invoice_id__in=list(invoice_ids))
        for invoice_id in rows.values_list("invoice_id", flat=True):
            paused.setdefault(invoice_id, reason)
    return paused


@dataclass(frozen=True)
class PolicyBook:
    """Every policy's steps (by offset) and how customers map to policies."""

    steps: dict[int, list[DunningStep]]
    by_segment: dict[str, int]
    default_id: int | None

    def policy_for(self, *, assigned_id: int | None, segment: str) -> int | None:
        if assigned_id is not None and assigned_id in self.steps:
            return assigned_id
        return self.by_segment.get(segment, self.default_id)

    @property
    def min_offset(self) -> int | None:
        offsets = [s.offset_days for steps in self.steps.values() for s in steps]
        return min(offsets) if offsets else None


def policy_book() -> PolicyBook:
    steps: dict[int, list[DunningStep]] = {}
    by_segment: dict[str, int] = {}
    default_id = None
    for policy in DunningPolicy.objects.order_by("pk"):
        steps[policy.pk] = []
        if policy.is_default:
            default_id = policy.pk
        for segment in policy.segments or []:
            by_segment.setdefault(segment, policy.pk)
    for step in DunningStep.objects.order_by("policy_id", "offset_days"):
        steps.setdefault(step.policy_id, []).append(step)
    return PolicyBook(steps=steps, by_segment=by_segment, default_id=default_id)


def customer_policy(customer: Customer) -> DunningPolicy | None:
    profile = CustomerCollectionProfile.objects.filter(customer=customer).first()
    book = policy_book()
    policy_id = book.policy_for(
        assigned_id=profile.policy_id if profile else None, segment=customer.segment
    )
    return DunningPolicy.objects.filter(pk=policy_id).first() if policy_id else None


# --- The collector's queue ---------------------------------------------------------


@dataclass(frozen=True)
class QueueFilters:
    collector_id: int | None = None
    unassigned: bool = False
    segment: str = ""
    currency: str = ""


def queue(*, filters: QueueFilters, today: date | None = None) -> QuerySet:
    """Accounts needing action today, best score first.

    Rows whose next action date lies ahead (a promise, a call-back) stay out until
    that day.
    """
    today = today or current_organization().today()
    entries = WorklistEntry.objects.filter(needs_action=True).filter(
        Q(next_action_date__isnull=True) | Q(next_action_date__lte=today)
    )
    if filters.collector_id:
        entries = entries.filter(collector_id=filters.collector_id)
    elif filters.unassigned:
        entries = entries.filter(collector__isnull=True)
    if filters.segment:
        entries = entries.filter(segment=filters.segment)
    if filters.currency:
        entries = entries.filter(currency=filters.currency)
    return entries.select_related("customer", "collector").order_by(
        "-score", "-amount_overdue", "pk"
    )


# --- Dunning runs ---------------------------------------------------------------------


def run_notices(*, run: DunningRun, limit: int = 100) -> list[Notice]:
    """The notices a run wrote, by customer: what went out that day."""
    return list(
        Notice.objects.filter(run=run)
        .select_related("customer", "step")
        .order_by("customer__name", "currency", "pk")[:limit]
    )


def run_progress(*, runs: list[DunningRun]) -> dict[int, dict[str, int]]:
    """Per run: its notices ``sent``, ``to_send`` (pending or being sent),
    ``waiting`` (to be tried again after the mail server failed), ``failed``,
    ``unknown_check`` and ``skipped``."""
    progress: dict[int, dict[str, int]] = {
        run.pk: dict.fromkeys(
            ("sent", "to_send", "waiting", "failed", "unknown_check", "skipped"), 0
        )
        for run in runs
    }
    rows = (
        Notice.objects.filter(run__in=runs)
        .values(
            "run_id",
            "status",
            waiting=ExpressionWrapper(
                Q(retry_at__isnull=False), output_field=BooleanField()
            ),
        )
        .annotate(count=Count("pk"))
        .order_by()
    )
    for row in rows:
        status = row["status"]
        if status == Notice.Status.PENDING:
            status = "waiting" if row["waiting"] else "to_send"
        elif status == Notice.Status.SENDING:
            status = "to_send"
        counts = progress[row["run_id"]]
        if status in counts:
            counts[status] += row["count"]
    return progress


# --- The customer timeline -----------------------------------------------------------


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    kind: str  # notice, activity, promise, dispute, payment, invoice, status
    title: str
    detail: str
    object_type: str
    object_id: int
    amount: Decimal | None = None
    currency: str = ""
    status: str = ""
    all_day: bool = False  # a posting date, not a moment: shown without a time


def _at(day: date) -> datetime:
    return timezone.make_aware(
        datetime.combine(day, time(12)), current_organization().tzinfo
    )


def customer_timeline(*, customer: Customer, limit: int = 200) -> list[TimelineEvent]:
    """Notices, activities, promises, disputes, payments, invoices and status
    changes of ``customer``, newest first. Dates without a time (invoice and
    payment dates) are placed at noon, local time, and marked ``all_day``."""
    events: list[TimelineEvent] = []
    events += _notice_events(customer, limit)
    events += _passed_over_events(customer, limit)
    events += _activity_events(customer, limit)
    events += _promise_events(customer, limit)
    events += _dispute_events(customer, limit)
    events += _ledger_events(customer, limit)
    events += _status_events(customer, limit)
    events += _delivery_events(customer, limit)
    events.sort(key=lambda event: (event.at, event.object_id), reverse=True)
    return events[:limit]


def _notice_events(customer, limit):
    notices = (
        Notice.objects.filter(customer=customer)
        .select_related("step")
        .order_by("-created_at")[:limit]
    )
    for notice in notices:
        label = notice.step.name if notice.step else "Collector email"
        if notice.plan_instalment_id:
            label = "Payment plan reminder"
        yield TimelineEvent(
            at=notice.sent_at or notice.created_at,
            kind="notice",
            title=f"{label} ({notice.get_channel_display().lower()})",
            detail=notice.subject or notice.error,
            object_type="notice",
            object_id=notice.pk,
            amount=notice.total_amount,
            currency=notice.currency,
            status=notice.status,
        )


def _passed_over_events(customer, limit):
    passed = (
        PassedOverStep.objects.filter(customer=customer)
        .select_related("step", "invoice", "run")
        .order_by("-fell_due_on", "-pk")[:limit]
    )
    for row in passed:
        yield TimelineEvent(
            at=row.run.finished_at or row.run.started_at,
            kind="notice",
            title=f"{row.step.name} passed over during catch-up",
            detail=f"Invoice {row.invoice.number} reached this step on "
            f"{row.fell_due_on.isoformat()}, a day the dunning did not run; it "
            "is not sent late"
            + (
                f" (the notice of {row.run.run_date.isoformat()} lists the invoice "
                "at its later step)."
                if row.notice_id
                else "."
            ),
            object_type="invoice",
            object_id=row.invoice_id,
            status="passed_over",
        )


def _activity_events(customer, limit):
    activities = Activity.objects.filter(customer=customer).order_by("-occurred_at")
    for activity in activities[:limit]:
        title = activity.get_kind_display()
        if activity.outcome:
            title += f": {activity.get_outcome_display().lower()}"
        yield TimelineEvent(
            at=activity.occurred_at,
            kind="activity",
            title=title,
            detail=activity.note,
            object_type="activity",
            object_id=activity.pk,
            status=activity.outcome,
        )


def _promise_events(customer, limit):
    for promise in PromiseToPay.objects.filter(customer=customer).order_by("-pk")[
        :limit
    ]:
        yield TimelineEvent(
            at=promise.created_at,
            kind="promise",
            title=f"Promise to pay by {promise.promised_date.isoformat()}",
            detail=promise.note,
            object_type="promise",
            object_id=promise.pk,
            amount=promise.amount,
            currency=promise.currency,
            status=promise.status,
        )


def _dispute_events(customer, limit):
    for dispute in Dispute.objects.filter(customer=customer).order_by("-pk")[:limit]:
        yield TimelineEvent(
            at=dispute.created_at,
            kind="dispute",
            title=f"Dispute: {dispute.get_reason_code_display()}",
            detail=dispute.description,
            object_type="dispute",
            object_id=dispute.pk,
            status=dispute.status,
        )


def _ledger_events(customer, limit):
    entries = (
        LedgerEntry.objects.filter(
            customer=customer,
            kind__in=(
                LedgerEntry.Kind.INVOICE,
                LedgerEntry.Kind.PAYMENT,
                LedgerEntry.Kind.CREDIT_NOTE,
                LedgerEntry.Kind.FEE,
                LedgerEntry.Kind.WRITE_OFF,
            ),
        )
        .select_related("invoice")
        .order_by("-posting_date", "-pk")[:limit]
    )
    for entry in entries:
        kind = "payment" if entry.kind == LedgerEntry.Kind.PAYMENT else "invoice"
        yield TimelineEvent(
            at=_at(entry.posting_date),
            kind=kind,
            title=entry.get_kind_display(),
            detail=entry.memo,
            object_type=entry.document_type,
            object_id=entry.document_id,
            amount=abs(entry.amount),
            currency=entry.currency,
            all_day=True,
        )


_STATUS_TYPES = {
    "collecting.promisetopay": "promise",
    "collecting.dispute": "dispute",
    "collecting.paymentplan": "payment plan",
    "collecting.notice": "notice",
}


def _status_events(customer, limit):
    """Status changes of the customer's collection objects and credit holds."""
    ids: dict[str, list[str]] = {
        "collecting.promisetopay": [
            str(pk)
            for pk in PromiseToPay.objects.filter(customer=customer).values_list(
                "pk", flat=True
            )
        ],
        "collecting.dispute": [
            str(pk)
            for pk in Dispute.objects.filter(customer=customer).values_list(
                "pk", flat=True
            )
        ],
        "collecting.paymentplan": [
            str(pk)
            for pk in PaymentPlan.objects.filter(customer=customer).values_list(
                "pk", flat=True
            )
        ],
    }
    condition = Q(object_type="orders.customer", object_id=str(customer.pk)) & Q(
        action__in=("credit_hold", "credit_release", "collection_hold", "reassigned")
    )
    for object_type, object_ids in ids.items():
        if object_ids:
            condition |= Q(object_type=object_type, object_id__in=object_ids) & ~Q(
                from_status=""
            )
    audit = AuditEvent.objects.filter(condition).order_by("-created_at")[:limit]
    for event in audit:
        what = _STATUS_TYPES.get(event.object_type, "customer")
        title = f"{what.capitalize()} #{event.object_id}: {event.action}"
        if event.from_status and event.to_status:
            title = (
                f"{what.capitalize()} #{event.object_id}: "
                f"{event.from_status} → {event.to_status}"
            )
        yield TimelineEvent(
            at=event.created_at,
            kind="status",
            title=title,
            detail=event.actor_label,
            object_type=event.object_type,
            object_id=int(event.object_id),
            status=event.to_status,
        )


def open_invoices_of(customer: Customer) -> QuerySet[Invoice]:
    return Invoice.objects.filter(
        customer=customer,
        status__in=(Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID),
    ).order_by("due_date", "pk")


# --- delivery tracking ---------------------------------------------------------------


def customers_with_bounced_address(customer_ids) -> set[int]:
    """Customers one of whose current addresses (the customer's own, a
    contact's) bounced hard or complained and is still suppressed."""
    from django.db.models.functions import Lower, Trim

    from collecting.models import SuppressedAddress
    from orders.models import Contact

    # Suppressed addresses are few (bounces), the customers may be all of them.
    suppressed = list(
        SuppressedAddress.objects.filter(released_at__isnull=True).values_list(
            "address", flat=True
        )
    )
    if not suppressed:
        return set()
    ids = list(customer_ids)
    matches = set()
    for model, column in ((Customer, "pk"), (Contact, "customer_id")):
        matches |= set(
            model.objects.filter(**{f"{column}__in": ids})
            .annotate(normalized_email=Lower(Trim("email")))
            .filter(normalized_email__in=suppressed)
            .values_list(column, flat=True)
        )
    return matches


def email_events_of(*, notice=None, customer=None):
    """Delivery events of a notice or a customer, newest first."""
    from collecting.models import EmailEvent

    events = EmailEvent.objects.all()
    if notice is not None:
        events = events.filter(notice=notice)
    if customer is not None:
        events = events.filter(customer=customer)
    return events.order_by("-received_at", "-pk")


def _delivery_events(customer, limit):
    from collecting.models import EmailEvent

    for event in email_events_of(customer=customer).exclude(
        kind=EmailEvent.Kind.DELIVERED
    )[:limit]:
        title = f"Email {event.get_kind_display().lower()}: {event.recipient}"
        if event.notice_id is None and event.invoice_delivery_id is not None:
            title += " (invoice email)"
        yield TimelineEvent(
            at=event.occurred_at or event.received_at,
            kind="delivery",
            title=title,
            detail=event.description,
            object_type="notice" if event.notice_id else "email_event",
            object_id=event.notice_id or event.pk,
            status=event.kind,
        )
