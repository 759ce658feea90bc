"""The collections stage: dunning policies and runs, notices, the collector's
worklist, activities, promises to pay, disputes and payment plans.

The app is called ``collecting`` because a top-level ``collections`` package would
be shadowed by Python's standard-library module of that name.

Statuses move only through :func:`o2c.services.transition` and each model's
``TRANSITIONS`` table, so every change leaves an audit event.
"""

from __future__ import annotations

import uuid
from pathlib import PurePath

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from invoicing.models import CreditNote, Invoice
from o2c.tenancy import TenantModel
from orders.models import MONEY, Customer


class CollectingSettings(TenantModel):
    """One row per organization (created on first use with these defaults)."""

    dunning_hour = models.PositiveSmallIntegerField(
        default=6,
        help_text="Local hour (0-23) from which the day's dunning run starts.",
    )
    promise_grace_days = models.PositiveSmallIntegerField(
        default=3, help_text="Days after a promise's date before it is judged."
    )
    plan_grace_days = models.PositiveSmallIntegerField(
        default=3,
        help_text="Days after an instalment's date before it is chased.",
    )
    stale_sending_minutes = models.PositiveIntegerField(
        default=30,
        help_text=(
            "A notice claimed this long ago and not recorded is set to "
            "'unknown — check' for a person."
        ),
    )

    class Meta:
        verbose_name_plural = "collecting settings"
        constraints = [
            models.UniqueConstraint(
                fields=["organization"], name="collectingsettings_one_per_org"
            ),
            models.CheckConstraint(
                condition=models.Q(dunning_hour__lte=23),
                name="collectingsettings_hour_valid",
            ),
        ]


class MessageTemplate(models.Model):
    """Subject and body (Django template syntax) with per-language variants.

    ``translations`` maps a language code to ``{"subject": …, "body": …}``; the
    customer's ``language`` picks one, the plain fields are the fallback.
    Placeholders: see :mod:`collecting.services.rendering`.
    """

    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True)
    translations = models.JSONField(default=dict, blank=True)

    class Meta:
        abstract = True

    def texts_for(self, language: str) -> tuple[str, str]:
        language = (language or "").lower()
        for code in (language, language.split("-")[0]):
            variant = self.translations.get(code)
            if variant:
                return (
                    variant.get("subject") or self.subject,
                    variant.get("body") or self.body,
                )
        return self.subject, self.body


class DunningPolicy(TenantModel):
    """An ordered list of steps. A customer's policy is, in this order: the one on
    its collection profile, the one listing its segment, the default."""

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    is_default = models.BooleanField(default=False)
    segments = models.JSONField(
        default=list, blank=True, help_text="Customer segments this policy covers."
    )
    min_days_between_notices = models.PositiveSmallIntegerField(
        default=7,
        help_text=(
            "A customer gets no email or letter from the dunning sooner than this "
            "many days after the previous one."
        ),
    )
    fee_period_days = models.PositiveSmallIntegerField(
        default=30,
        help_text="A step's fixed fee is charged to a customer at most once in this "
        "many days.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "dunning policies"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="dunningpolicy_unique_name"
            ),
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(is_default=True),
                name="dunningpolicy_one_default",
            ),
        ]

    def __str__(self):
        return self.name


class DunningStep(MessageTemplate, TenantModel):
    """One step: ``offset_days`` after the due date (negative: a courtesy reminder
    before it), a channel, a message, an optional fee, a minimum amount.

    Steps of a policy are ordered by ``offset_days`` (unique within the policy); a
    later step is a "higher" step. The fee is ``fee_amount`` (in the notice's
    currency) plus simple interest at ``interest_rate`` percent a year on each
    listed invoice's open amount for the days not yet charged.
    """

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        LETTER = "letter", _("Letter (PDF)")
        CALL_TASK = "call_task", _("Call task for the queue")
        CREDIT_HOLD = "credit_hold", _("Credit hold")
        AGENCY_REVIEW = "agency_review", _("Flag for agency review")

    policy = models.ForeignKey(
        DunningPolicy, on_delete=models.CASCADE, related_name="steps"
    )
    name = models.CharField(max_length=100)
    offset_days = models.IntegerField()
    channel = models.CharField(
        max_length=20, choices=Channel.choices, default=Channel.EMAIL
    )
    attach_invoices = models.BooleanField(
        default=True, help_text="Attach each listed invoice's PDF to the email."
    )
    fee_amount = models.DecimalField(**MONEY, null=True, blank=True)
    interest_rate = models.DecimalField(
        max_digits=7,
        decimal_places=3,
        null=True,
        blank=True,
        help_text="Percent a year on the overdue amount.",
    )
    minimum_amount = models.DecimalField(
        **MONEY, default=0, help_text="Notices totalling less are not sent."
    )

    class Meta:
        ordering = ["policy", "offset_days"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "offset_days"], name="dunningstep_unique_offset"
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.offset_days:+d} days)"


class EmailTemplate(MessageTemplate, TenantModel):
    """A message a collector sends by hand from the queue."""

    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="emailtemplate_unique_name"
            ),
        ]

    def __str__(self):
        return self.name


class CustomerCollectionProfile(TenantModel):
    """What collecting keeps about a customer (``orders.Customer`` stays as is)."""

    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, related_name="collection_profile"
    )
    policy = models.ForeignKey(
        DunningPolicy,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="profiles",
    )
    next_action_date = models.DateField(null=True, blank=True)
    on_hold = models.BooleanField(
        default=False, help_text="No dunning and off the queue until released."
    )
    hold_reason = models.CharField(max_length=300, blank=True)
    agency_review = models.BooleanField(default=False)
    call_requested = models.BooleanField(
        default=False, help_text="A call-task step asked for a call not yet logged."
    )
    last_contact_at = models.DateTimeField(null=True, blank=True)


class DunningRun(TenantModel):
    """One dunning of an organization as of one day.

    The morning's run is started by beat (``scheduled``); a person may start one
    (``manual``) again the same day, after a policy change say: it adds only what
    is new. At most one run of an organization is queued or running at a time.
    A run after missed days (``caught_up_from`` is the first missed day) writes one
    notice per customer and currency as of its own day and records the steps
    that fell due meanwhile as :class:`PassedOverStep`.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")

    class Trigger(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        MANUAL = "manual", _("Started by a person")

    S = Status
    TRANSITIONS = {
        S.QUEUED: {S.RUNNING, S.FAILED},
        S.RUNNING: {S.COMPLETED, S.FAILED},
        S.FAILED: set(),
        S.COMPLETED: set(),
    }
    ACTIVE = (Status.QUEUED, Status.RUNNING)

    run_date = models.DateField()
    trigger = models.CharField(
        max_length=10, choices=Trigger.choices, default=Trigger.SCHEDULED
    )
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.QUEUED
    )
    caught_up_from = models.DateField(
        null=True, blank=True, help_text="First missed day this run caught up."
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    notices_created = models.PositiveIntegerField(default=0)
    invoices_noticed = models.PositiveIntegerField(default=0)
    steps_passed_over = models.PositiveIntegerField(default=0)
    customers_held = models.PositiveIntegerField(
        default=0, help_text="Customers waiting for their notice interval."
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [
            models.Index(
                fields=["organization", "run_date", "status"], name="dunningrun_day_idx"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(status__in=["queued", "running"]),
                name="dunningrun_one_active",
            ),
        ]

    def __str__(self):
        return f"dunning run {self.run_date.isoformat()}"


class Notice(TenantModel):
    """One message (or action) to one customer about its invoices in one currency.

    Written ``pending`` by the run before anything is sent; the sender claims it
    (``pending → sending``), sends and records ``sent``/``failed``. A row found still
    ``sending`` later is set ``unknown_check``: the message may have left, a person
    checks the mail log (``message_id``) and records what happened. Nothing ever
    resends it automatically. ``skipped``: every invoice was settled (or paused)
    by the time of sending. ``bounced`` / ``complained``: the email provider
    reported a hard bounce or a spam complaint afterwards
    (:mod:`collecting.services.delivery`).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        UNKNOWN_CHECK = "unknown_check", _("Unknown — check")
        SKIPPED = "skipped", _("Skipped")
        BOUNCED = "bounced", _("Bounced")
        COMPLAINED = "complained", _("Marked as spam")

    S = Status
    TRANSITIONS = {
        S.PENDING: {S.SENDING, S.SKIPPED, S.FAILED},
        S.SENDING: {S.SENT, S.FAILED, S.SKIPPED, S.UNKNOWN_CHECK, S.PENDING},
        S.UNKNOWN_CHECK: {S.SENT, S.FAILED},
        S.FAILED: {S.PENDING},
        S.SENT: {S.BOUNCED, S.COMPLAINED},
        S.SKIPPED: set(),
        S.BOUNCED: {S.COMPLAINED},
        S.COMPLAINED: set(),
    }

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="notices"
    )
    run = models.ForeignKey(
        DunningRun,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notices",
    )
    step = models.ForeignKey(
        DunningStep,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notices",
    )
    template = models.ForeignKey(
        EmailTemplate,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notices",
    )
    plan_instalment = models.OneToOneField(
        "PaymentPlanInstalment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reminder",
    )
    channel = models.CharField(max_length=20, choices=DunningStep.Channel.choices)
    currency = models.CharField(max_length=3)
    notice_date = models.DateField()
    status = models.CharField(
        max_length=15, choices=Status.choices, default=Status.PENDING
    )
    total_amount = models.DecimalField(**MONEY, default=0)
    fee_amount = models.DecimalField(**MONEY, default=0)
    recipients = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True)
    message_id = models.CharField(max_length=300, blank=True)
    document = models.FileField(upload_to="notices/%Y/%m/", blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Hand-overs that failed before the mail server took it."
    )
    retry_at = models.DateTimeField(
        null=True, blank=True, help_text="Not sent before this time (backoff)."
    )

    class Meta:
        indexes = [
            models.Index(
                fields=["organization", "status", "claimed_at"],
                name="notice_status_idx",
            ),
            models.Index(
                fields=["organization", "customer", "created_at"],
                name="notice_customer_idx",
            ),
            # The cadence: each customer's latest notice of the last few days.
            models.Index(
                fields=["organization", "notice_date"], name="notice_date_idx"
            ),
        ]

    def __str__(self):
        return f"notice #{self.pk}"


class NoticeItem(TenantModel):
    """An invoice listed on a notice, at its own step, with its own days overdue.

    Unique per (invoice, step): a step is never issued twice for an invoice. A
    collector's hand-written email has no step, so it never blocks the dunning.
    """

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="items")
    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, related_name="notice_items"
    )
    step = models.ForeignKey(
        DunningStep,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="items",
    )
    offset_days = models.IntegerField(
        null=True, blank=True, help_text="The step's offset when it was issued."
    )
    days_overdue = models.IntegerField()
    open_amount = models.DecimalField(**MONEY)
    interest_amount = models.DecimalField(**MONEY, default=0)
    left_off_reason = models.CharField(
        max_length=20,
        blank=True,
        help_text="Why the invoice was left off when the notice was sent (paid…).",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "step"], name="noticeitem_unique_invoice_step"
            ),
        ]


class PassedOverStep(TenantModel):
    """A step that fell due on a day the dunning did not run, for an invoice that
    the catching-up run listed at a higher step. It is never sent late; this row
    keeps it from being lost silently (the customer's timeline shows it)."""

    run = models.ForeignKey(
        DunningRun, on_delete=models.CASCADE, related_name="passed_over"
    )
    notice = models.ForeignKey(
        Notice, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="+")
    step = models.ForeignKey(DunningStep, on_delete=models.PROTECT, related_name="+")
    fell_due_on = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "step"], name="passedoverstep_unique_invoice_step"
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "customer", "fell_due_on"],
                name="passedover_customer_idx",
            ),
        ]


class Activity(TenantModel):
    """A call, email or note a collector logged about a customer."""

    class Kind(models.TextChoices):
        CALL = "call", _("Call")
        EMAIL = "email", _("Email")
        NOTE = "note", _("Note")

    class Outcome(models.TextChoices):
        NONE = "", "—"
        NO_ANSWER = "no_answer", _("No answer")
        LEFT_VOICEMAIL = "left_voicemail", _("Left voicemail")
        PROMISED = "promised", _("Promised to pay")
        DISPUTED = "disputed", _("Disputed")
        PAID = "paid", _("Says paid")
        WRONG_CONTACT = "wrong_contact", _("Wrong contact")

    #: Outcomes after which the customer has answered us.
    REACHED = {Outcome.PROMISED, Outcome.DISPUTED, Outcome.PAID}

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="collection_activities"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    outcome = models.CharField(
        max_length=20, choices=Outcome.choices, default=Outcome.NONE, blank=True
    )
    note = models.TextField(blank=True)
    notice = models.ForeignKey(
        Notice, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor_label = models.CharField(max_length=150, blank=True)
    occurred_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "activities"
        indexes = [
            models.Index(
                fields=["organization", "customer", "occurred_at"],
                name="activity_customer_idx",
            ),
        ]


def dispute_attachment_path(dispute, filename: str) -> str:
    """Files are kept per organization, under a random name (the customer's
    file name is not trusted as a path)."""
    suffix = PurePath(filename).suffix.lower()[:10]
    return f"disputes/{dispute.organization_id}/{uuid.uuid4().hex}{suffix}"


class Source(models.TextChoices):
    """Who recorded a promise or opened a dispute: a collector (or an
    integration) or the customer in the portal."""

    COLLECTOR = "collector", _("Collector")
    PORTAL = "portal", _("Customer portal")


class PromiseToPay(TenantModel):
    """A customer's promise to pay ``amount`` on ``promised_date`` for invoices.

    Active, it pauses dunning of its invoices. On ``promised_date + grace_days`` it
    is judged on the payments allocated to those invoices since it was made: kept,
    partially kept or broken (kept as soon as the amount is paid).
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        KEPT = "kept", _("Kept")
        PARTIALLY_KEPT = "partially_kept", _("Partially kept")
        BROKEN = "broken", _("Broken")
        CANCELLED = "cancelled", _("Cancelled")

    S = Status
    TRANSITIONS = {
        S.ACTIVE: {S.KEPT, S.PARTIALLY_KEPT, S.BROKEN, S.CANCELLED},
        S.KEPT: set(),
        S.PARTIALLY_KEPT: set(),
        S.BROKEN: set(),
        S.CANCELLED: set(),
    }

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="promises"
    )
    invoices = models.ManyToManyField(
        Invoice, through="PromiseInvoice", related_name="promises"
    )
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(**MONEY)
    promised_date = models.DateField()
    grace_days = models.PositiveSmallIntegerField(default=3)
    made_on = models.DateField()
    status = models.CharField(
        max_length=15, choices=Status.choices, default=Status.ACTIVE
    )
    paid_amount = models.DecimalField(**MONEY, default=0)
    note = models.TextField(blank=True)
    source = models.CharField(
        max_length=10, choices=Source.choices, default=Source.COLLECTOR
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["organization", "status", "promised_date"],
                name="promise_status_idx",
            ),
        ]

    def __str__(self):
        return f"promise #{self.pk}"


class PromiseInvoice(TenantModel):
    promise = models.ForeignKey(PromiseToPay, on_delete=models.CASCADE)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["promise", "invoice"], name="promiseinvoice_unique"
            ),
        ]


class Dispute(TenantModel):
    """A customer contests invoices; dunning of them pauses while it is open."""

    class Reason(models.TextChoices):
        PRICING = "pricing", _("Price differs from agreement")
        QUANTITY = "quantity", _("Quantity differs")
        QUALITY = "quality", _("Damaged or faulty goods")
        NOT_RECEIVED = "not_received", _("Goods or service not received")
        DUPLICATE = "duplicate", _("Duplicate invoice")
        TAX = "tax", _("Tax or invoice details wrong")
        OTHER = "other", _("Other")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        RESOLVED_CREDIT_NOTE = "resolved_credit_note", _("Resolved by credit note")
        RESOLVED_COMPANY_FAVOUR = "resolved_company_favour", _("Resolved in our favour")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    S = Status
    TRANSITIONS = {
        S.OPEN: {S.RESOLVED_CREDIT_NOTE, S.RESOLVED_COMPANY_FAVOUR, S.WITHDRAWN},
        S.RESOLVED_CREDIT_NOTE: set(),
        S.RESOLVED_COMPANY_FAVOUR: set(),
        S.WITHDRAWN: set(),
    }

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="disputes"
    )
    invoices = models.ManyToManyField(
        Invoice, through="DisputeInvoice", related_name="disputes"
    )
    reason_code = models.CharField(max_length=20, choices=Reason.choices)
    description = models.TextField(blank=True)
    source = models.CharField(
        max_length=10, choices=Source.choices, default=Source.COLLECTOR
    )
    #: The invoice lines contested (ids of ``InvoiceLine``), empty for whole
    #: invoices; the customer picks them in the portal.
    line_ids = models.JSONField(default=list, blank=True)
    attachment = models.FileField(upload_to=dispute_attachment_path, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_disputes",
    )
    status = models.CharField(
        max_length=25, choices=Status.choices, default=Status.OPEN
    )
    credit_note = models.ForeignKey(
        CreditNote, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution_note = models.TextField(blank=True)
    opened_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"dispute #{self.pk}"


class DisputeInvoice(TenantModel):
    dispute = models.ForeignKey(Dispute, on_delete=models.CASCADE)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dispute", "invoice"], name="disputeinvoice_unique"
            ),
        ]


class PaymentPlan(TenantModel):
    """An overdue balance split into instalments, chased by their own dates.

    While active, the dunning leaves its invoices alone; a reminder goes out for
    each instalment unpaid ``plan_grace_days`` after its date. Payments count
    toward instalments in date order (allocations to the plan's invoices since
    the plan started). An instalment unpaid 30 days past its date breaks the plan
    and the invoices' dunning resumes.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        COMPLETED = "completed", _("Completed")
        BROKEN = "broken", _("Broken")
        CANCELLED = "cancelled", _("Cancelled")

    S = Status
    TRANSITIONS = {
        S.ACTIVE: {S.COMPLETED, S.BROKEN, S.CANCELLED},
        S.COMPLETED: set(),
        S.BROKEN: set(),
        S.CANCELLED: set(),
    }
    BREAK_AFTER_DAYS = 30

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="payment_plans"
    )
    invoices = models.ManyToManyField(
        Invoice, through="PaymentPlanInvoice", related_name="payment_plans"
    )
    currency = models.CharField(max_length=3)
    total_amount = models.DecimalField(**MONEY)
    start_date = models.DateField()
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.ACTIVE
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"payment plan #{self.pk}"


class PaymentPlanInvoice(TenantModel):
    plan = models.ForeignKey(PaymentPlan, on_delete=models.CASCADE)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "invoice"], name="paymentplaninvoice_unique"
            ),
        ]


class PaymentPlanInstalment(TenantModel):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        PAID = "paid", _("Paid")
        OVERDUE = "overdue", _("Overdue")

    S = Status
    TRANSITIONS = {
        S.PENDING: {S.PAID, S.OVERDUE},
        S.OVERDUE: {S.PAID},
        S.PAID: set(),
    }

    plan = models.ForeignKey(
        PaymentPlan, on_delete=models.CASCADE, related_name="instalments"
    )
    sequence = models.PositiveSmallIntegerField()
    due_date = models.DateField()
    amount = models.DecimalField(**MONEY)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING
    )

    class Meta:
        ordering = ["plan", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "sequence"], name="planinstalment_unique_sequence"
            ),
        ]


class WorklistEntry(TenantModel):
    """One account (customer and currency) in the collectors' queue, denormalised so
    the queue page is one indexed query.

    ``score`` is the sum of ``score_parts`` (see
    :mod:`collecting.services.worklist`); ``needs_action`` is false when nothing
    overdue is left to chase (all paused by promises, disputes or plans, or the
    account is on hold). The page also hides rows whose ``next_action_date`` is
    in the future.
    """

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="worklist_entries"
    )
    currency = models.CharField(max_length=3)
    collector = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    segment = models.CharField(max_length=50, blank=True)
    risk_class = models.CharField(max_length=10, blank=True)
    amount_overdue = models.DecimalField(**MONEY, default=0)
    amount_paused = models.DecimalField(**MONEY, default=0)
    invoices_overdue = models.PositiveIntegerField(default=0)
    days_overdue = models.IntegerField(default=0)
    broken_promises = models.PositiveIntegerField(default=0)
    unanswered_notices = models.PositiveIntegerField(default=0)
    next_action_date = models.DateField(null=True, blank=True)
    needs_action = models.BooleanField(default=True)
    score = models.DecimalField(max_digits=8, decimal_places=1, default=0)
    score_parts = models.JSONField(default=dict, blank=True)
    computed_on = models.DateField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "worklist entries"
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "currency"], name="worklist_unique_account"
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "collector", "needs_action", "-score"],
                name="worklist_queue_idx",
            ),
        ]


class EmailProviderEndpoint(TenantModel):
    """Where one email provider posts an organization's bounces and complaints:
    ``/hooks/email/<provider>/<token>/``.

    The random ``token`` in the URL names the organization; the payload is never
    trusted for that. Each provider's own proof comes on top (see
    :mod:`collecting.inbound`): SES's SNS signature (optionally only from
    ``topic_arn``), SendGrid's ECDSA signature checked with ``signing_key`` (its
    public key), Mailgun's HMAC with ``signing_key`` (its webhook signing key),
    Postmark's HTTP basic auth (``basic_auth_username``, the password kept
    hashed).
    """

    class Provider(models.TextChoices):
        SES = "ses", _("Amazon SES (through SNS)")
        SENDGRID = "sendgrid", _("SendGrid")
        MAILGUN = "mailgun", _("Mailgun")
        POSTMARK = "postmark", _("Postmark")

    provider = models.CharField(max_length=10, choices=Provider.choices)
    token = models.CharField(max_length=64, unique=True)
    signing_key = models.TextField(blank=True)
    topic_arn = models.CharField(max_length=300, blank=True)
    basic_auth_username = models.CharField(max_length=150, blank=True)
    basic_auth_password = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["provider"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "provider"],
                name="emailproviderendpoint_one_per_provider",
            ),
        ]

    def __str__(self):
        return self.get_provider_display()


class EmailEvent(TenantModel):
    """One delivery event a provider reported, kept as received for audit.

    Unique per (provider, provider's event id): a replayed event is recognised
    and changes nothing. ``notice`` or ``invoice_delivery`` is the email the
    Message-ID names; both empty when it names none of ours.
    """

    class Kind(models.TextChoices):
        HARD_BOUNCE = "hard_bounce", _("Hard bounce")
        SOFT_BOUNCE = "soft_bounce", _("Soft bounce")
        COMPLAINT = "complaint", _("Spam complaint")
        DELIVERED = "delivered", _("Delivered")

    endpoint = models.ForeignKey(
        EmailProviderEndpoint, on_delete=models.PROTECT, related_name="events"
    )
    provider = models.CharField(
        max_length=10, choices=EmailProviderEndpoint.Provider.choices
    )
    event_id = models.CharField(max_length=200)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    recipient = models.CharField(max_length=254)
    message_id = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    notice = models.ForeignKey(
        Notice,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="email_events",
    )
    invoice_delivery = models.ForeignKey(
        "invoicing.InvoiceDelivery",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    customer = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="email_events",
    )
    raw = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "provider", "event_id"],
                name="emailevent_unique_provider_event",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "customer", "received_at"],
                name="emailevent_customer_idx",
            ),
        ]


class SuppressedAddress(TenantModel):
    """An address no email is sent to any more: it bounced hard or its reader
    marked our mail as spam. ``address`` is lower-case.

    It stays suppressed until a person releases it (``released_at``); a contact
    given a new address simply stops matching.
    """

    class Reason(models.TextChoices):
        HARD_BOUNCE = "hard_bounce", _("Bounced")
        COMPLAINT = "complaint", _("Marked as spam")

    address = models.CharField(max_length=254)
    reason = models.CharField(max_length=12, choices=Reason.choices)
    detail = models.TextField(blank=True)
    customer = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="suppressed_addresses",
    )
    event = models.ForeignKey(
        EmailEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    suppressed_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "suppressed addresses"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "address"],
                condition=models.Q(released_at__isnull=True),
                name="suppressedaddress_one_active",
            ),
        ]


class PredictionModel(TenantModel):
    """One nightly training of an organization's payment-date prediction.

    ``kind`` says what serves the predictions made with it: the trained model
    (it beat the customer-median baseline on the most recent 30 % of settled
    history) or the baseline, with ``reason`` saying why. ``metrics`` holds the
    held-out figures of both; ``payload`` the LightGBM boosters (their own text
    format, no pickle) and the calibration, as JSON.
    """

    class Kind(models.TextChoices):
        MODEL = "model", _("Trained model")
        BASELINE = "baseline", _("Customer median (baseline)")

    class Reason(models.TextChoices):
        PUBLISHED = "published", _("Beat the baseline on recent history")
        TOO_FEW = "too_few", _("Too few settled invoices")
        CONSTANT = "constant", _("Every settled invoice paid alike")
        NOT_BETTER = "not_better", _("Did not beat the baseline on recent history")

    kind = models.CharField(max_length=10, choices=Kind.choices)
    reason = models.CharField(max_length=12, choices=Reason.choices)
    trained_at = models.DateTimeField()
    trained_through = models.DateField(
        help_text="History settled before this day was used."
    )
    settled_invoices = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    predictions_count = models.PositiveIntegerField(
        default=0, help_text="Open invoices scored with it."
    )

    class Meta:
        indexes = [
            models.Index(
                fields=["organization", "-trained_at"], name="predictionmodel_recent"
            ),
        ]
