"""Report settings, month-end figures kept for the dashboard, statement emails.

Everything here is derived from the receivables ledger or configures how it is
shown; nothing is a source of truth. The month-end figures and payment profiles
are a store of sums the metrics and the cash forecast would otherwise recompute
from millions of ledger rows on every page view: ``reports.selectors.snapshot``
rebuilds them whenever the ledger has changed behind them.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from o2c.tenancy import TenantModel
from orders.models import MONEY, Customer

DEFAULT_BOUNDARIES = [30, 60, 90]


class AgingBucketSet(TenantModel):
    """Aging buckets by days past due: ``boundaries`` [30, 60, 90] give Current,
    1-30, 31-60, 61-90 and 90+ (more than 90 days past due).

    "Current" is everything not yet past its due date (due today or later). The
    organization's default set is used when a report names none.
    """

    name = models.CharField(max_length=60)
    boundaries = models.JSONField(default=list)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="agingbucketset_unique_name"
            ),
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(is_default=True),
                name="agingbucketset_one_default",
            ),
        ]

    def __str__(self):
        return self.name


class MetricsSnapshot(TenantModel):
    """Which ledger state the stored month-end figures reflect.

    ``ledger_high_water`` is the ledger's settled line when the figures were
    summed (every entry up to it is in them); an entry above it dated on or
    before ``through_month``'s end makes the figures stale.
    """

    first_month = models.DateField()
    through_month = models.DateField(help_text="First day of the last closed month.")
    ledger_high_water = models.BigIntegerField(default=0)
    computed_at = models.DateTimeField()
    seconds = models.FloatField(default=0)
    profiles_computed_on = models.DateField(
        null=True, blank=True, help_text="Organization-local day of the profiles."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization"], name="metricssnapshot_one_per_org"
            )
        ]


class MonthEndFigure(TenantModel):
    """Sums of one month for one scope (organization, a collector, a segment) and
    currency: receivables open at month end, the part not yet due, credit sales."""

    class Scope(models.TextChoices):
        ORGANIZATION = "organization", _("Organization")
        COLLECTOR = "collector", _("Collector")
        SEGMENT = "segment", _("Segment")

    snapshot = models.ForeignKey(
        MetricsSnapshot, on_delete=models.CASCADE, related_name="figures"
    )
    month = models.DateField()
    scope = models.CharField(max_length=12, choices=Scope.choices)
    key = models.CharField(max_length=60, blank=True)
    currency = models.CharField(max_length=3)
    receivables = models.DecimalField(**MONEY)
    current_receivables = models.DecimalField(**MONEY)
    credit_sales = models.DecimalField(**MONEY)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "scope", "key", "currency", "month"],
                name="monthendfigure_unique",
            )
        ]


class LedgerCompaction(TenantModel):
    """How far the receivables ledger has been folded into ``LedgerMonthTotal``.

    Every entry with an id up to ``through_entry`` is counted there, under the
    collector and segment its customer had then (``LedgerAttribution``); entries
    above it are the live tail the metrics add when they read
    (``reports.selectors.metrics``). ``invoicing.services.ledger.ledger_settled_id``
    draws the line: no entry at or below it can still be uncommitted.
    """

    through_entry = models.BigIntegerField(default=0)
    computed_at = models.DateTimeField()
    seconds = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization"], name="ledgercompaction_one_per_org"
            )
        ]


class LedgerMonthTotal(TenantModel):
    """The sum of the ledger entries on invoices up to the compaction line, by
    collector, segment, currency, posting month, the invoice's due month and
    whether it is due on that month's last day: what the month-end metrics need
    of each entry, a few thousand rows where the ledger has millions.

    ``credit_sales`` holds invoices and fees less voids of them (a void's row
    has no movement of its own when it is written apart)."""

    collector_id = models.BigIntegerField(null=True)
    segment = models.CharField(max_length=50, blank=True)
    currency = models.CharField(max_length=3)
    month = models.DateField()
    due_month = models.DateField()
    due_on_end = models.BooleanField()
    movement = models.DecimalField(**MONEY)
    credit_sales = models.DecimalField(**MONEY)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "month"], name="ledgermonth_org_idx")
        ]


class LedgerAttribution(TenantModel):
    """A customer's collector and segment when the ledger was compacted: the key
    its entries were counted under in ``LedgerMonthTotal``. A customer whose
    collector or segment differs now has its compacted entries moved to the new
    key when the metrics are read."""

    customer_id = models.BigIntegerField()
    collector_id = models.BigIntegerField(null=True)
    segment = models.CharField(max_length=50, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "customer_id"],
                name="ledgerattribution_unique",
            )
        ]


class PaymentProfile(TenantModel):
    """How a customer has paid: invoices settled in the twelve months before
    ``computed_on`` (the cash forecast shifts due dates by ``expected_delay_days``)."""

    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, related_name="payment_profile"
    )
    paid_invoices = models.PositiveIntegerField()
    average_days_to_pay = models.DecimalField(max_digits=8, decimal_places=1)
    average_days_late = models.DecimalField(max_digits=8, decimal_places=1)
    on_time_share = models.DecimalField(max_digits=5, decimal_places=1)
    expected_delay_days = models.IntegerField(
        null=True, help_text="None: too few settled invoices to rely on."
    )
    computed_on = models.DateField()


class StatementDelivery(TenantModel):
    """One email of a statement of account, written before it is sent.

    ``sending`` that never became ``sent`` or ``failed`` means the worker stopped
    between SMTP and recording: a person checks it, it is never resent by itself.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        NO_RECIPIENT = "no_recipient", _("No billing contact")

    S = Status
    TRANSITIONS = {
        S.PENDING: {S.SENDING, S.NO_RECIPIENT},
        S.SENDING: {S.SENT, S.FAILED},
        S.SENT: set(),
        S.FAILED: set(),
        S.NO_RECIPIENT: set(),
    }

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="statement_deliveries"
    )
    currency = models.CharField(max_length=3)
    period_start = models.DateField()
    period_end = models.DateField()
    status = models.CharField(
        max_length=15, choices=Status.choices, default=Status.PENDING
    )
    recipients = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    message_id = models.CharField(max_length=300, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "statement deliveries"
        ordering = ["-created_at"]


class ForecastSnapshot(TenantModel):
    """One week of the cash forecast as it was made on ``made_on``: kept so
    that the forecast can be scored against the cash that came in. ``horizon``
    counts weeks from ``made_on`` (0: the week starting that day).
    ``reconstructed``: not kept as made but rebuilt afterwards from the history,
    as the forecast would have been made that day from what was known then
    (``backfill_forecast_snapshots``)."""

    made_on = models.DateField()
    currency = models.CharField(max_length=3)
    horizon = models.PositiveSmallIntegerField()
    week_start = models.DateField()
    amount = models.DecimalField(**MONEY)
    reconstructed = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "made_on", "currency", "horizon"],
                name="forecastsnapshot_one_per_week",
            ),
        ]
