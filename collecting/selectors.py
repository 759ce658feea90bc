"""Reads of the collections stage: settings, paused invoices, policies per customer,
the collector's queue and the customer timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

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
    Source,
    WorklistEntry,
)
from invoicing.models import Invoice, InvoiceLine, LedgerEntry
from o2c.models import AuditEvent
from o2c.tenancy import current_organization
from orders.models import Contact, Customer

PAUSE_DISPUTE = "disputed"
PAUSE_PROMISE = "promised"
PAUSE_PLAN = "payment_plan"


def collecting_settings() -> CollectingSettings:
    """The organization's settings row, or the defaults when it has none yet."""
    organization = current_organization()
    found = CollectingSettings.objects.first()
    return found or CollectingSettings(organization=organization)


def paid_towards(invoice_ids, *, since: date, until: date) -> Decimal:
    """Payments allocated to the invoices with a posting date in [since, until],
    net of reversed allocations."""
    total = LedgerEntry.objects.filter(
        Q(kind=LedgerEntry.Kind.ALLOCATION)
        | Q(kind=LedgerEntry.Kind.REVERSAL, reverses__kind=LedgerEntry.Kind.ALLOCATION),
        invoice_id__in=list(invoice_ids),
        posting_date__gte=since,
        posting_date__lte=until,
    ).aggregate(total=Sum("amount"))["total"]
    return -(total or Decimal(0))


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


def _collector_scope(filters: QueueFilters, *, via: str = "customer__") -> Q:
    """The accounts ``filters`` choose, through the customer at ``via``."""
    scope = Q()
    if filters.collector_id:
        scope &= Q(**{f"{via}collector_id": filters.collector_id})
    elif filters.unassigned:
        scope &= Q(**{f"{via}collector__isnull": True})
    if filters.segment:
        scope &= Q(**{f"{via}segment": filters.segment})
    return scope


def _account_id(*, by_currency: bool = True) -> Subquery:
    """The queue row (worklist entry) of the customer's account (in the row's
    currency, or the customer's best-scored one), for the row's Act button; none
    when nothing of the customer is overdue."""
    entries = WorklistEntry.objects.filter(customer_id=OuterRef("customer_id"))
    if by_currency:
        entries = entries.filter(currency=OuterRef("currency"))
    return Subquery(entries.order_by("-score").values("pk")[:1])


def promises_due(*, filters: QueueFilters, today: date, limit: int) -> list:
    """Active promises whose date is ``today``: the money to look out for."""
    promises = (
        PromiseToPay.objects.filter(
            _collector_scope(filters),
            status=PromiseToPay.Status.ACTIVE,
            promised_date=today,
        )
        .annotate(account_id=_account_id())
        .select_related("customer")
        .order_by("-amount", "pk")
    )
    if filters.currency:
        promises = promises.filter(currency=filters.currency)
    return list(promises[:limit])


def promises_broken(*, filters: QueueFilters, since: date, limit: int) -> list:
    """Promises judged broken or partly kept from the start of ``since`` (the
    organization's day) on."""
    start = datetime.combine(since, time.min, tzinfo=current_organization().tzinfo)
    promises = (
        PromiseToPay.objects.filter(
            _collector_scope(filters),
            status__in=(PromiseToPay.Status.BROKEN, PromiseToPay.Status.PARTIALLY_KEPT),
            evaluated_at__gte=start,
        )
        .annotate(account_id=_account_id())
        .select_related("customer")
        .order_by("-amount", "pk")
    )
    if filters.currency:
        promises = promises.filter(currency=filters.currency)
    return list(promises[:limit])


def callbacks_due(*, filters: QueueFilters, today: date, limit: int) -> list:
    """Accounts in today's queue whose next-action date has come and that nobody
    has called since that day, oldest call-back first."""
    called_since = Activity.objects.annotate(
        day=TruncDate("occurred_at", tzinfo=current_organization().tzinfo)
    ).filter(
        customer_id=OuterRef("customer_id"),
        kind=Activity.Kind.CALL,
        day__gte=OuterRef("next_action_date"),
    )
    entries = (
        WorklistEntry.objects.filter(
            _collector_scope(filters, via=""),
            needs_action=True,
            next_action_date__lte=today,
        )
        .exclude(Exists(called_since))
        .select_related("customer")
        .order_by("next_action_date", "-score", "pk")
    )
    if filters.currency:
        entries = entries.filter(currency=filters.currency)
    return list(entries[:limit])


def disputes_awaiting(*, filters: QueueFilters, limit: int) -> list:
    """Open disputes for the chosen collector: the ones they own, and the unowned
    ones of their accounts (everyone's when no collector is chosen), oldest first,
    with the disputed open amount."""
    if filters.collector_id:
        scope = Q(owner_id=filters.collector_id) | Q(
            owner__isnull=True, customer__collector_id=filters.collector_id
        )
    else:
        scope = _collector_scope(filters)
    if filters.segment:
        scope &= Q(customer__segment=filters.segment)
    disputes = Dispute.objects.filter(scope, status=Dispute.Status.OPEN)
    if filters.currency:
        disputes = disputes.filter(invoices__currency=filters.currency)
    disputes = (
        # One dispute's invoices share one currency (clean_invoices).
        disputes.annotate(
            disputed_amount=Sum("invoices__open_amount"),
            currency=Max("invoices__currency"),
        )
        .annotate(account_id=_account_id(by_currency=False))
        .select_related("customer", "owner")
        .order_by("opened_on", "pk")
    )
    return list(disputes[:limit])


@dataclass(frozen=True)
class AccountContact:
    """Whom a collector calls or writes to about an account."""

    name: str
    phone: str
    email: str


CONTACT_ROLES = {Contact.Role.BILLING: 0, Contact.Role.AP_CLERK: 1}


def account_contacts(customers) -> dict[int, AccountContact]:
    """Per customer id: the primary billing contact, else another billing
    contact, else an AP clerk; without one, the customer's own phone and email.
    One query for all of ``customers``."""
    by_customer: dict[int, list[Contact]] = {}
    contacts = Contact.objects.filter(
        customer_id__in=[customer.pk for customer in customers],
        role__in=list(CONTACT_ROLES),
    )
    for contact in contacts:
        by_customer.setdefault(contact.customer_id, []).append(contact)
    found = {}
    for customer in customers:
        candidates = by_customer.get(customer.pk)
        if candidates:
            best = min(
                candidates,
                key=lambda c: (CONTACT_ROLES[c.role], not c.is_primary, c.pk),
            )
            found[customer.pk] = AccountContact(
                name=best.name,
                phone=best.phone or customer.phone,
                email=best.email or customer.email,
            )
        else:
            found[customer.pk] = AccountContact(
                name="", phone=customer.phone, email=customer.email
            )
    return found


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
    #: Of a dispute: the contested invoice lines ("INV-1 · 2. Freight") and
    #: whether the customer sent a file with it.
    lines: tuple[str, ...] = ()
    has_attachment: bool = False

    @property
    def status_label(self) -> str:
        """The status in the reader's language, for pages."""
        return str(
            _TIMELINE_STATUS_LABELS.get(self.status) or self.status.replace("_", " ")
        )


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
    events += _plan_events(customer, limit)
    events += _ledger_events(customer, limit)
    events += _status_events(customer, limit)
    events += _cash_application_events(customer, limit)
    events += _delivery_events(customer, limit)
    events += _remittance_events(customer, limit)
    events.sort(key=lambda event: (event.at, event.object_id), reverse=True)
    return events[:limit]


def _notice_events(customer, limit):
    notices = (
        Notice.objects.filter(customer=customer)
        .select_related("step")
        .order_by("-created_at")[:limit]
    )
    for notice in notices:
        label = notice.step.name if notice.step else _("Collector email")
        if notice.plan_instalment_id:
            label = _("Payment plan reminder")
        yield TimelineEvent(
            at=notice.sent_at or notice.created_at,
            kind="notice",
            title=f"{label} ({str(notice.get_channel_display()).lower()})",
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
            title=_("%(step)s passed over during catch-up") % {"step": row.step.name},
            detail=(
                _(
                    "Invoice %(invoice)s reached this step on %(date)s, a day the "
                    "dunning did not run; it is not sent late (the notice of "
                    "%(run_date)s lists the invoice at its later step)."
                )
                if row.notice_id
                else _(
                    "Invoice %(invoice)s reached this step on %(date)s, a day the "
                    "dunning did not run; it is not sent late."
                )
            )
            % {
                "invoice": row.invoice.number,
                "date": row.fell_due_on.isoformat(),
                "run_date": row.run.run_date.isoformat(),
            },
            object_type="invoice",
            object_id=row.invoice_id,
            status="passed_over",
        )


def _activity_events(customer, limit):
    activities = Activity.objects.filter(customer=customer).order_by("-occurred_at")
    for activity in activities[:limit]:
        title = str(activity.get_kind_display())
        if activity.outcome:
            title += f": {str(activity.get_outcome_display()).lower()}"
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
        title = _("Promise to pay by %(date)s") % {
            "date": promise.promised_date.isoformat()
        }
        yield TimelineEvent(
            at=promise.created_at,
            kind="promise",
            title=_portal_title(title, promise.source),
            detail=promise.note,
            object_type="promise",
            object_id=promise.pk,
            amount=promise.amount,
            currency=promise.currency,
            status=promise.status,
        )


def _dispute_events(customer, limit):
    disputes = list(Dispute.objects.filter(customer=customer).order_by("-pk")[:limit])
    line_ids = {pk for dispute in disputes for pk in dispute.line_ids or []}
    lines = {
        line.pk: f"{line.invoice.number or line.invoice_id} · "
        f"{line.position}. {line.description}"
        for line in InvoiceLine.objects.filter(pk__in=line_ids).select_related(
            "invoice"
        )
    }
    for dispute in disputes:
        title = _("Dispute: %(reason)s") % {"reason": dispute.get_reason_code_display()}
        yield TimelineEvent(
            at=dispute.created_at,
            kind="dispute",
            title=_portal_title(title, dispute.source),
            detail=dispute.description,
            object_type="dispute",
            object_id=dispute.pk,
            status=dispute.status,
            lines=tuple(lines[pk] for pk in dispute.line_ids or [] if pk in lines),
            has_attachment=bool(dispute.attachment),
        )


def _portal_title(title: str, source: str) -> str:
    if source == Source.PORTAL:
        return _("%(title)s (from the customer portal)") % {"title": title}
    return title


def _remittance_events(customer, limit):
    """Remittance advice the customer sent in the portal. Reconciliation records
    it as an audit event on the customer (this app does not import it)."""
    audit = AuditEvent.objects.filter(
        object_type="orders.customer",
        object_id=str(customer.pk),
        action="remittance_advised",
    ).order_by("-created_at", "-pk")[:limit]
    for event in audit:
        data = event.data
        yield TimelineEvent(
            at=event.created_at,
            kind="payment",
            title=_("Remittance advice from the customer portal"),
            detail=_("Paid %(invoices)s on %(date)s, reference %(reference)s")
            % {
                "invoices": ", ".join(data.get("invoices", [])),
                "date": data.get("paid_on", ""),
                "reference": data.get("reference") or "-",
            },
            object_type=event.object_type,
            object_id=int(event.object_id),
            amount=Decimal(data["amount"]) if data.get("amount") else None,
            currency=data.get("currency", ""),
            status="advised",
        )


def _plan_events(customer, limit):
    plans = (
        PaymentPlan.objects.filter(customer=customer)
        .annotate(instalment_count=Count("instalments"))
        .order_by("-pk")[:limit]
    )
    for plan in plans:
        yield TimelineEvent(
            at=plan.created_at,
            kind="plan",
            title=ngettext(
                "Payment plan #%(number)s: %(count)s instalment",
                "Payment plan #%(number)s: %(count)s instalments",
                plan.instalment_count,
            )
            % {"number": plan.pk, "count": plan.instalment_count},
            detail=plan.note,
            object_type="payment_plan",
            object_id=plan.pk,
            amount=plan.total_amount,
            currency=plan.currency,
            status=plan.status,
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
                LedgerEntry.Kind.DISCOUNT,
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
    "collecting.promisetopay": gettext_lazy("Promise"),
    "collecting.dispute": gettext_lazy("Dispute"),
    "collecting.paymentplan": gettext_lazy("Payment plan"),
    "collecting.notice": gettext_lazy("Notice"),
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
        what = _STATUS_TYPES.get(event.object_type) or _("Customer")
        title = f"{what} #{event.object_id}: {_action_label(event.action)}"
        if event.from_status and event.to_status:
            title = (
                f"{what} #{event.object_id}: "
                f"{_status_label(event.from_status)} → {_status_label(event.to_status)}"
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


# What a bank statement line did to the customer's account. Reconciliation records
# these audit events on the customer with their own title, words and amount, so
# this app reads them without importing reconciliation (the layers forbid it).
_ACTION_LABELS = {
    "credit_hold": gettext_lazy("credit hold"),
    "credit_release": gettext_lazy("credit hold released"),
    "collection_hold": gettext_lazy("put on hold"),
    "reassigned": gettext_lazy("reassigned"),
}

# The statuses of promises, disputes, plans and notices, whatever their model.
_STATUS_LABELS = {
    **dict(PromiseToPay.Status.choices),
    **dict(PaymentPlan.Status.choices),
    **dict(Notice.Status.choices),
    **dict(Dispute.Status.choices),
}


_TIMELINE_STATUS_LABELS = {
    **_STATUS_LABELS,
    **{value: label for value, label in Activity.Outcome.choices if value},
    "passed_over": gettext_lazy("Passed over"),
    "matched_auto": gettext_lazy("Matched automatically"),
    "matched_manual": gettext_lazy("Matched by a person"),
    "on_account": gettext_lazy("On account"),
    "undone": gettext_lazy("Undone"),
    "advised": gettext_lazy("Advised"),
    "reversed": gettext_lazy("Reversed"),
    "hard_bounce": gettext_lazy("Hard bounce"),
    "soft_bounce": gettext_lazy("Soft bounce"),
    "complaint": gettext_lazy("Spam complaint"),
}


def _action_label(action: str) -> str:
    return str(_ACTION_LABELS.get(action, action))


def _status_label(status: str) -> str:
    return str(_STATUS_LABELS.get(status, status)).lower()


# What a bank statement line did to the customer's account, in the reader's
# language (the stored title is English).
_CASH_APPLICATION_TITLES = {
    "cash_matched_auto": gettext_lazy("Bank payment matched automatically"),
    "cash_matched_manual": gettext_lazy("Bank payment matched by a person"),
    "cash_on_account": gettext_lazy("Bank payment put on account"),
    "cash_undone": gettext_lazy("Bank payment match undone"),
    "cash_reversed": gettext_lazy("Bank payment reversed by the bank"),
}

CASH_APPLICATION_ACTIONS = {
    "cash_matched_auto": "matched_auto",
    "cash_matched_manual": "matched_manual",
    "cash_on_account": "on_account",
    "cash_undone": "undone",
    "cash_reversed": "reversed",
}


def _cash_application_events(customer, limit):
    audit = AuditEvent.objects.filter(
        object_type="orders.customer",
        object_id=str(customer.pk),
        action__in=CASH_APPLICATION_ACTIONS,
    ).order_by("-created_at", "-pk")[:limit]
    for event in audit:
        data = event.data
        yield TimelineEvent(
            at=event.created_at,
            kind="payment",
            title=str(_CASH_APPLICATION_TITLES.get(event.action))
            if event.action in _CASH_APPLICATION_TITLES
            else data.get("title", event.action),
            detail=f"{data.get('detail', '')} ({event.actor_label})",
            object_type=event.object_type,
            object_id=int(event.object_id),
            amount=Decimal(data["amount"]) if data.get("amount") else None,
            currency=data.get("currency", ""),
            status=CASH_APPLICATION_ACTIONS[event.action],
        )


def open_invoices_of(customer: Customer) -> QuerySet[Invoice]:
    return Invoice.objects.filter(
        customer=customer,
        status__in=(Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID),
    ).order_by("due_date", "pk")


# --- payment plans -----------------------------------------------------------------


@dataclass(frozen=True)
class InstalmentState:
    """An instalment as the ledger has it today: ``paid`` (covered in full),
    ``overdue`` (not covered and its date has passed) or ``due``."""

    sequence: int
    due_date: date
    amount: Decimal
    paid_amount: Decimal
    state: str

    @property
    def open_amount(self) -> Decimal:
        return self.amount - self.paid_amount


def plan_instalment_states(*, plan: PaymentPlan, today: date) -> list[InstalmentState]:
    """Payments allocated to the plan's invoices since the plan started cover
    the instalments in date order (the rule ``plans_evaluate`` judges by)."""
    invoice_ids = PaymentPlanInvoice.objects.filter(plan=plan).values_list(
        "invoice_id", flat=True
    )
    remaining = paid_towards(invoice_ids, since=plan.start_date, until=today)
    states = []
    for instalment in plan.instalments.order_by("sequence"):
        covered = min(max(remaining, Decimal(0)), instalment.amount)
        remaining -= covered
        if covered == instalment.amount:
            state = "paid"
        elif instalment.due_date < today:
            state = "overdue"
        else:
            state = "due"
        states.append(
            InstalmentState(
                sequence=instalment.sequence,
                due_date=instalment.due_date,
                amount=instalment.amount,
                paid_amount=covered,
                state=state,
            )
        )
    return states


def plan_cancellation(*, plan: PaymentPlan) -> AuditEvent | None:
    """Who cancelled the plan, when and why (its audit event)."""
    return (
        AuditEvent.objects.filter(
            object_type="collecting.paymentplan",
            object_id=str(plan.pk),
            to_status=PaymentPlan.Status.CANCELLED,
        )
        .order_by("-created_at")
        .first()
    )


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
        title = _("Email %(event)s: %(recipient)s") % {
            "event": str(event.get_kind_display()).lower(),
            "recipient": event.recipient,
        }
        if event.notice_id is None and event.invoice_delivery_id is not None:
            title += " " + _("(invoice email)")
        yield TimelineEvent(
            at=event.occurred_at or event.received_at,
            kind="delivery",
            title=title,
            detail=event.description,
            object_type="notice" if event.notice_id else "email_event",
            object_id=event.notice_id or event.pk,
            status=event.kind,
        )
