"""Customers, payment terms, catalog items, sales orders and fulfillments."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from o2c.tenancy import TenantModel

MONEY = {"max_digits": 18, "decimal_places": 3}
QUANTITY = {"max_digits": 14, "decimal_places": 3}


class PaymentTerm(TenantModel):
    """When an invoice falls due.

    * ``net``: invoice date + ``days``.
    * ``end_of_month``: last day of the invoice's month + ``days``.
    * ``instalments``: several due dates; ``instalments`` is a list of
      ``{"percent": "50", "days": 30}`` (percent of the total, days after the invoice
      date), percents summing to 100.
    """

    class Kind(models.TextChoices):
        NET = "net", _("Net N days")
        END_OF_MONTH = "end_of_month", _("End of month + N days")
        INSTALMENTS = "instalments", _("Instalments")

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.NET)
    days = models.PositiveIntegerField(default=30)
    instalments = models.JSONField(default=list, blank=True)
    discount_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal(0),
        help_text="Early-payment discount in percent of the total (0: none).",
    )
    discount_days = models.PositiveIntegerField(
        default=0, help_text="Days after the invoice date the discount is allowed."
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="paymentterm_unique_name"
            )
        ]

    def __str__(self):
        return self.name

    @property
    def has_discount(self) -> bool:
        return self.discount_percent > 0


class Customer(TenantModel):
    class Risk(models.TextChoices):
        LOW = "low", _("Low")
        MEDIUM = "medium", _("Medium")
        HIGH = "high", _("High")

    number = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    legal_name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=50, blank=True)
    address = models.TextField(blank=True)
    country = models.CharField(max_length=2, blank=True)
    tax_id = models.CharField(max_length=50, blank=True)
    language = models.CharField(max_length=10, default="en")
    currency = models.CharField(max_length=3)
    payment_term = models.ForeignKey(
        PaymentTerm, on_delete=models.PROTECT, related_name="customers"
    )
    credit_limit = models.DecimalField(**MONEY, null=True, blank=True)
    on_credit_hold = models.BooleanField(default=False)
    collector = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="collected_customers",
    )
    segment = models.CharField(max_length=50, blank=True)
    risk_class = models.CharField(
        max_length=10, choices=Risk.choices, default=Risk.MEDIUM
    )
    do_not_contact = models.BooleanField(default=False)
    external_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "number"], name="customer_unique_number"
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "name"], name="customer_name_idx"),
            # Filters by segment (customers, aging) are one organization's.
            models.Index(
                fields=["organization", "segment"], name="customer_segment_idx"
            ),
            # The currencies in use (the lists' currency filters), read by a skip
            # scan: one probe per currency (orders.selectors.customer_currencies).
            models.Index(
                fields=["organization", "currency"], name="customer_currency_idx"
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.number})"


class Contact(TenantModel):
    class Role(models.TextChoices):
        BILLING = "billing", _("Billing")
        AP_CLERK = "ap_clerk", _("AP clerk")
        DECISION_MAKER = "decision_maker", _("Decision maker")
        OTHER = "other", _("Other")

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="contacts"
    )
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=50, blank=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.BILLING)
    is_primary = models.BooleanField(default=False)

    class Meta:
        ordering = ["-is_primary", "name"]

    def __str__(self):
        return self.name


class Item(TenantModel):
    sku = models.CharField(max_length=60)
    name = models.CharField(max_length=200)
    unit_price = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    tax_rate = models.DecimalField(
        max_digits=6, decimal_places=3, default=Decimal(0), help_text="Percent"
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "sku"], name="item_unique_sku"
            ),
        ]

    def __str__(self):
        return f"{self.sku} {self.name}"


class SalesOrder(TenantModel):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        CONFIRMED = "confirmed", _("Confirmed")
        PARTIALLY_FULFILLED = "partially_fulfilled", _("Partially fulfilled")
        FULFILLED = "fulfilled", _("Fulfilled")
        INVOICED = "invoiced", _("Invoiced")
        CANCELLED = "cancelled", _("Cancelled")

    S = Status
    TRANSITIONS = {
        S.DRAFT: {S.CONFIRMED, S.CANCELLED},
        S.CONFIRMED: {S.PARTIALLY_FULFILLED, S.FULFILLED, S.CANCELLED},
        S.PARTIALLY_FULFILLED: {S.FULFILLED, S.CONFIRMED},
        S.FULFILLED: {S.INVOICED, S.PARTIALLY_FULFILLED, S.CONFIRMED},
        S.INVOICED: {S.FULFILLED},
        S.CANCELLED: set(),
    }

    number = models.CharField(max_length=40)
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="orders"
    )
    currency = models.CharField(max_length=3)
    order_date = models.DateField()
    customer_reference = models.CharField(max_length=100, blank=True)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.DRAFT
    )
    notes = models.TextField(blank=True)
    credit_check_overridden = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "number"], name="salesorder_unique_number"
            ),
        ]

    def __str__(self):
        return self.number


class SalesOrderLine(TenantModel):
    order = models.ForeignKey(
        SalesOrder, on_delete=models.CASCADE, related_name="lines"
    )
    position = models.PositiveIntegerField()
    item = models.ForeignKey(Item, null=True, blank=True, on_delete=models.PROTECT)
    description = models.CharField(max_length=300)
    quantity = models.DecimalField(**QUANTITY)
    unit_price = models.DecimalField(**MONEY)
    tax_rate = models.DecimalField(max_digits=6, decimal_places=3, default=Decimal(0))
    quantity_fulfilled = models.DecimalField(**QUANTITY, default=Decimal(0))
    quantity_invoiced = models.DecimalField(**QUANTITY, default=Decimal(0))

    class Meta:
        ordering = ["position"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gt=0), name="orderline_quantity_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(quantity_fulfilled__lte=models.F("quantity")),
                name="orderline_fulfilled_le_ordered",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    quantity_invoiced__lte=models.F("quantity_fulfilled")
                ),
                name="orderline_invoiced_le_fulfilled",
            ),
        ]

    def __str__(self):
        return f"{self.order.number}/{self.position}"


class Fulfillment(TenantModel):
    class Status(models.TextChoices):
        SHIPPED = "shipped", _("Shipped")
        DELIVERED = "delivered", _("Delivered")
        CANCELLED = "cancelled", _("Cancelled")

    S = Status
    TRANSITIONS = {
        S.SHIPPED: {S.DELIVERED, S.CANCELLED},
        S.DELIVERED: set(),
        S.CANCELLED: set(),
    }

    number = models.CharField(max_length=40)
    order = models.ForeignKey(
        SalesOrder, on_delete=models.PROTECT, related_name="fulfillments"
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.SHIPPED
    )
    shipped_date = models.DateField()
    carrier = models.CharField(max_length=100, blank=True)
    tracking_number = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "number"], name="fulfillment_unique_number"
            ),
        ]

    def __str__(self):
        return self.number


class FulfillmentLine(TenantModel):
    fulfillment = models.ForeignKey(
        Fulfillment, on_delete=models.CASCADE, related_name="lines"
    )
    order_line = models.ForeignKey(
        SalesOrderLine, on_delete=models.PROTECT, related_name="fulfillment_lines"
    )
    quantity = models.DecimalField(**QUANTITY)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gt=0),
                name="fulfillmentline_quantity_positive",
            ),
        ]
