"""Platform kernel: organizations, people and roles, audit events, sequences, keys."""

import zoneinfo

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.models import AbstractAPIKey

from o2c.tenancy import TenantModel


def _timezone_choices():
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class Organization(models.Model):
    """A company (tenant). Every business row belongs to exactly one."""

    class DateFormat(models.TextChoices):
        ISO = "Y-m-d", "2026-03-31"
        EUROPEAN = "d.m.Y", "31.03.2026"
        BRITISH = "d/m/Y", "31/03/2026"
        AMERICAN = "m/d/Y", "03/31/2026"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    base_currency = models.CharField(max_length=3, default="EUR")
    timezone = models.CharField(max_length=64, default="UTC")
    locale = models.CharField(max_length=16, default="en")
    date_format = models.CharField(
        max_length=8, choices=DateFormat.choices, default=DateFormat.ISO
    )
    fiscal_year_start_month = models.PositiveSmallIntegerField(default=1)
    legal_name = models.CharField(max_length=200, blank=True)
    address = models.TextField(blank=True)
    tax_id = models.CharField(max_length=50, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=50, blank=True)
    payment_instructions = models.TextField(
        blank=True, help_text="Bank account and reference wording printed on invoices."
    )
    logo = models.FileField(
        upload_to="logos/",
        blank=True,
        help_text="PNG, JPEG or SVG printed on documents; checked by "
        "o2c.organization.logo_type.",
    )
    write_off_limit = models.DecimalField(
        max_digits=18,
        decimal_places=3,
        default=0,
        help_text="Largest difference finance may write off (0 = no limit check).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    has_webhook_endpoints = models.BooleanField(
        default=False,
        editable=False,
        help_text="Whether an active webhook endpoint exists (kept by o2c.webhooks), "
        "so services emitting events skip the endpoint lookup when none does.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(fiscal_year_start_month__gte=1)
                & models.Q(fiscal_year_start_month__lte=12),
                name="organization_fiscal_month_valid",
            )
        ]

    def __str__(self):
        return self.name

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def logo_uri(self) -> str:
        """The logo's address for the PDF renderer's fetcher, which reads it from
        the media storage (a local folder or an S3 bucket)."""
        from o2c.organization import logo_uri

        return logo_uri(self.logo.name) if self.logo else ""

    def today(self):
        """The organization's local date: "today" for due dates, aging and dunning."""
        from django.utils import timezone

        return timezone.now().astimezone(self.tzinfo).date()


class Role(models.TextChoices):
    ADMIN = "admin", _("Admin")
    FINANCE = "finance", _("Finance")
    COLLECTOR = "collector", _("Collector")
    VIEWER = "viewer", _("Viewer")


class Membership(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user"], name="membership_unique_user"
            )
        ]

    def __str__(self):
        return f"{self.user} @ {self.organization} ({self.role})"


class OrganizationAPIKey(AbstractAPIKey):
    """An integration's key: shown once, stored hashed, revocable, with a role."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_keys"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.FINANCE)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # Written at most once a minute per key (o2c.api.auth), not on every request.
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"


class AuditEvent(TenantModel):
    """Who changed what, when, from which status to which. Written by services."""

    created_at = models.DateTimeField(auto_now_add=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor_label = models.CharField(max_length=150)
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=150)
    action = models.CharField(max_length=60)
    from_status = models.CharField(max_length=30, blank=True)
    to_status = models.CharField(max_length=30, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["organization", "object_type", "object_id"],
                name="audit_object_idx",
            ),
            # The audit log's date filters are one organization's.
            models.Index(
                fields=["organization", "created_at"], name="audit_created_idx"
            ),
        ]

    def __str__(self):
        return f"{self.object_type}#{self.object_id} {self.action}"


class Sequence(TenantModel):
    """Gap-free document numbers: incremented in the issuing transaction."""

    name = models.CharField(max_length=30)
    prefix = models.CharField(max_length=20)
    next_value = models.PositiveBigIntegerField(default=1)
    padding = models.PositiveSmallIntegerField(default=6)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="sequence_unique_name"
            )
        ]


class IdempotencyRecord(TenantModel):
    """First response to a POST carrying an ``Idempotency-Key``, for replay."""

    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "key"], name="idempotency_unique_key"
            )
        ]
        indexes = [
            # the hourly expiry deletes across organizations by age
            models.Index(fields=["created_at"], name="idempotency_created")
        ]


class FxRate(TenantModel):
    """Rate to convert one unit of ``currency`` into the base currency on ``date``."""

    currency = models.CharField(max_length=3)
    date = models.DateField()
    rate = models.DecimalField(max_digits=20, decimal_places=10)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "currency", "date"], name="fxrate_unique_day"
            ),
            models.CheckConstraint(condition=models.Q(rate__gt=0), name="fxrate_pos"),
        ]


class Job(TenantModel):
    """Long work run by Celery (imports, exports, runs), with progress for the UI."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    S = Status
    TRANSITIONS = {
        S.QUEUED: {S.RUNNING, S.FAILED},
        S.RUNNING: {S.SUCCEEDED, S.FAILED},
        S.SUCCEEDED: set(),
        S.FAILED: set(),
    }

    kind = models.CharField(max_length=40)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.QUEUED
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    progress = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    input_file = models.FileField(upload_to="jobs/%Y/%m/", blank=True)
    input_name = models.CharField(max_length=255, blank=True)
    input_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    parameters = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    output_file = models.FileField(upload_to="exports/%Y/%m/", blank=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def percent(self) -> int:
        return int(100 * self.progress / self.total) if self.total else 0


class WebhookEndpoint(TenantModel):
    """An integration's URL that receives signed events (see ``o2c.webhooks``)."""

    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(
        default=list, blank=True, help_text="Event names; empty means every event."
    )
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(
        max_length=100,
        blank=True,
        help_text="The secret before the last roll; deliveries are signed with it "
        "too until previous_secret_expires_at.",
    )
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.url


class Event(TenantModel):
    """Something that happened to a document, written once in the transaction that
    did the work, with the object as the REST API showed it then (see
    ``o2c.webhooks``). Webhook deliveries send it; the events API lists it."""

    id = models.CharField(primary_key=True, max_length=40, editable=False)
    type = models.CharField(max_length=60)
    created = models.DateTimeField()
    api_version = models.CharField(max_length=20)
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=40)
    data = models.JSONField(help_text="The object as it was when the event happened.")

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["organization", "created"], name="event_created"),
            models.Index(
                fields=["organization", "object_type", "object_id"],
                name="event_object",
            ),
        ]

    def __str__(self):
        return f"{self.type} {self.id}"


class WebhookDelivery(TenantModel):
    """One event for one endpoint, with its attempts (retried with backoff)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        # A resend is a new delivery of the same event to the same endpoint.
        indexes = [
            models.Index(fields=["endpoint", "status"], name="webhookdelivery_pending")
        ]
