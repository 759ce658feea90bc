"""Payments, their allocations to invoices, and write-offs."""

from django.db import models

from invoicing.models import Invoice
from o2c.tenancy import TenantModel
from orders.models import MONEY, Customer


class Payment(TenantModel):
    """Cash received from a customer. What is not allocated stays on account.

    ``unapplied_amount`` caches the ledger's on-account balance of this payment.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        REVERSED = "reversed", "Reversed"

    class Method(models.TextChoices):
        BANK_TRANSFER = "bank_transfer", "Bank transfer"
        CARD = "card", "Card"
        DIRECT_DEBIT = "direct_debit", "Direct debit"
        CHEQUE = "cheque", "Cheque"
        CASH = "cash", "Cash"
        OTHER = "other", "Other"

    S = Status
    TRANSITIONS = {S.RECEIVED: {S.REVERSED}, S.REVERSED: set()}

    number = models.CharField(max_length=40)
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="payments"
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.RECEIVED
    )
    method = models.CharField(
        max_length=20, choices=Method.choices, default=Method.BANK_TRANSFER
    )
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    received_date = models.DateField()
    unapplied_amount = models.DecimalField(**MONEY)
    reference = models.CharField(max_length=200, blank=True)
    payer_name = models.CharField(max_length=200, blank=True)
    external_id = models.CharField(max_length=100, null=True, blank=True)
    reversal_date = models.DateField(null=True, blank=True)
    reversal_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "number"], name="payment_unique_number"
            ),
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                name="payment_unique_external_id",
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="payment_amount_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(unapplied_amount__gte=0)
                & models.Q(unapplied_amount__lte=models.F("amount")),
                name="payment_unapplied_within_amount",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "customer", "received_date"],
                name="payment_customer_date_idx",
            ),
            models.Index(fields=["organization", "-id"], name="payment_org_id_idx"),
            models.Index(
                fields=["organization", "customer", "currency"],
                condition=models.Q(unapplied_amount__gt=0),
                name="payment_unapplied_idx",
            ),
            # Cash received on a day or in a period (dashboard, collections today).
            models.Index(
                fields=["organization", "received_date"], name="payment_received_idx"
            ),
        ]

    def __str__(self):
        return self.number


class Allocation(TenantModel):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        REVERSED = "reversed", "Reversed"

    S = Status
    TRANSITIONS = {S.ACTIVE: {S.REVERSED}, S.REVERSED: set()}

    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, related_name="allocations"
    )
    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, related_name="allocations"
    )
    amount = models.DecimalField(**MONEY)
    allocation_date = models.DateField()
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    reversal_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="allocation_amount_positive"
            ),
        ]
        # Tenant-scoped lookups by payment or invoice: leading with the
        # organization lets SQLite use them without statistics.
        indexes = [
            models.Index(
                fields=["organization", "payment", "status"],
                name="allocation_payment_idx",
            ),
            models.Index(
                fields=["organization", "invoice", "status"],
                name="allocation_invoice_idx",
            ),
        ]

    def __str__(self):
        return f"{self.payment} -> {self.invoice}: {self.amount}"


class WriteOff(TenantModel):
    class Status(models.TextChoices):
        POSTED = "posted", "Posted"
        REVERSED = "reversed", "Reversed"

    S = Status
    TRANSITIONS = {S.POSTED: {S.REVERSED}, S.REVERSED: set()}

    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, related_name="write_offs"
    )
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    write_off_date = models.DateField()
    reason = models.CharField(max_length=300)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.POSTED
    )
    reversal_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="writeoff_amount_positive"
            ),
        ]
