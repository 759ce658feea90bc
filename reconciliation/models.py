"""Payments, their allocations to invoices, and write-offs."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from invoicing.models import Invoice
from o2c.tenancy import TenantModel
from orders.models import MONEY, Customer
from reconciliation.reasons import reason_display, reasons_display


class Payment(TenantModel):
    """Cash received from a customer. What is not allocated stays on account.

    ``unapplied_amount`` caches the ledger's on-account balance of this payment.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        REVERSED = "reversed", _("Reversed")

    class Method(models.TextChoices):
        BANK_TRANSFER = "bank_transfer", _("Bank transfer")
        CARD = "card", _("Card")
        DIRECT_DEBIT = "direct_debit", _("Direct debit")
        CHEQUE = "cheque", _("Cheque")
        CASH = "cash", pgettext_lazy("payment method", "Cash")
        OTHER = "other", _("Other")

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
    # The bank statement line this cash came in on (several payments when a person
    # split the line over customers).
    statement_line = models.ForeignKey(
        "reconciliation.StatementLine",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
    )
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
            # Cash received on a day or in a period (dashboard, collections
            # today), summed per currency from the index alone: with heap reads
            # to make, PostgreSQL read every payment of the organization instead.
            models.Index(
                fields=["organization", "received_date"],
                include=["status", "currency", "amount"],
                name="payment_received_idx",
            ),
        ]

    def __str__(self):
        return self.number


class Allocation(TenantModel):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        REVERSED = "reversed", _("Reversed")

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
        POSTED = "posted", _("Posted")
        REVERSED = "reversed", _("Reversed")

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
    # Set when the write-off settled a short payment of a bank statement line.
    statement_line = models.ForeignKey(
        "reconciliation.StatementLine",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="write_offs",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="writeoff_amount_positive"
            ),
        ]


class Discount(TenantModel):
    """An early-payment discount taken on an invoice: the invoice's own discount,
    as issued, granted because it was paid within its terms. Posted on the
    ledger as its own kind (``discount``), so reports tell discounts taken from
    write-offs; reversed with the payment it came with."""

    class Status(models.TextChoices):
        POSTED = "posted", "Posted"
        REVERSED = "reversed", "Reversed"

    S = Status
    TRANSITIONS = {S.POSTED: {S.REVERSED}, S.REVERSED: set()}

    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, related_name="discounts"
    )
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    discount_date = models.DateField(help_text="Posting date: when it was paid.")
    reason = models.CharField(max_length=300)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.POSTED
    )
    reversal_date = models.DateField(null=True, blank=True)
    statement_line = models.ForeignKey(
        "reconciliation.StatementLine",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="discounts",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="discount_amount_positive"
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "invoice", "status"],
                name="discount_invoice_idx",
            ),
        ]

    def __str__(self):
        return f"{self.invoice}: discount {self.amount}"


# --- Bank statements and cash application ------------------------------------------


class BankAccount(TenantModel):
    """An account of the organization that customers pay into.

    ``column_mapping`` is the saved profile for CSV/XLSX statements of this account
    (which column holds the date, amount, payer, reference text...).
    """

    name = models.CharField(max_length=100)
    iban = models.CharField(max_length=34, blank=True)
    account_number = models.CharField(max_length=40, blank=True)
    bic = models.CharField(max_length=11, blank=True)
    routing_number = models.CharField(max_length=20, blank=True)
    currency = models.CharField(max_length=3)
    is_default = models.BooleanField(default=False)
    column_mapping = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "iban"],
                condition=~models.Q(iban=""),
                name="bankaccount_unique_iban",
            ),
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(is_default=True),
                name="bankaccount_one_default",
            ),
        ]

    def __str__(self):
        return self.name


class BankStatement(TenantModel):
    """One statement (or notification) read from an imported file."""

    class Kind(models.TextChoices):
        STATEMENT = "statement", _("Statement")
        NOTIFICATION = "notification", _("Notification")

    bank_account = models.ForeignKey(
        BankAccount, on_delete=models.PROTECT, related_name="statements"
    )
    file_hash = models.CharField(max_length=64)
    source_name = models.CharField(max_length=255, blank=True)
    file_format = models.CharField(max_length=20, blank=True)
    statement_id = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.STATEMENT)
    sequence = models.PositiveSmallIntegerField(
        default=0, help_text="Position of the statement within its file."
    )
    currency = models.CharField(max_length=3)
    opening_balance = models.DecimalField(**MONEY, null=True, blank=True)
    closing_balance = models.DecimalField(**MONEY, null=True, blank=True)
    opening_date = models.DateField(null=True, blank=True)
    closing_date = models.DateField(null=True, blank=True)
    line_count = models.PositiveIntegerField(default=0)
    new_line_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["bank_account", "file_hash", "sequence"],
                name="bankstatement_unique_file",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "-imported_at"], name="bankstatement_org_idx"
            )
        ]

    def __str__(self):
        return self.statement_id or self.source_name or f"statement #{self.pk}"


class StatementLine(TenantModel):
    """One transaction of a bank statement and what became of it.

    The cash it brought is in ``payments`` (``Payment.statement_line``): one per
    customer, several when a person split the line. The link points from the
    payment to the line only, so deleting a tenant's rows table by table (demo,
    bench) finds an order without a cycle."""

    class Status(models.TextChoices):
        NEW = "new", _("New")
        NEEDS_REVIEW = "needs_review", _("Needs review")
        MATCHED_AUTO = "matched_auto", _("Matched automatically")
        MATCHED_MANUAL = "matched_manual", _("Matched by a person")
        ON_ACCOUNT = "on_account", _("On account")
        NOT_RECEIVABLE = "not_receivable", _("Not receivable")
        REVERSED = "reversed", _("Reversed")
        DEBIT = "debit", _("Debit (outgoing)")

    class Direction(models.TextChoices):
        CREDIT = "credit", _("Credit")
        DEBIT = "debit", _("Debit")

    S = Status
    OPEN = (S.NEW, S.NEEDS_REVIEW)
    APPLIED = (S.MATCHED_AUTO, S.MATCHED_MANUAL, S.ON_ACCOUNT)
    TRANSITIONS = {
        S.NEW: {
            S.NEEDS_REVIEW, S.MATCHED_AUTO, S.MATCHED_MANUAL, S.ON_ACCOUNT,
            S.NOT_RECEIVABLE, S.REVERSED,
        },
        S.NEEDS_REVIEW: {
            S.NEW, S.MATCHED_AUTO, S.MATCHED_MANUAL, S.ON_ACCOUNT, S.NOT_RECEIVABLE,
            S.REVERSED,
        },
        # Undo puts an applied line back in the queue; a bank reversal ends it.
        S.MATCHED_AUTO: {S.NEW, S.REVERSED},
        S.MATCHED_MANUAL: {S.NEW, S.REVERSED},
        S.ON_ACCOUNT: {S.NEW, S.REVERSED},
        S.NOT_RECEIVABLE: {S.NEW, S.REVERSED},
        S.REVERSED: set(),
        S.DEBIT: set(),
    }  # fmt: skip

    statement = models.ForeignKey(
        BankStatement, on_delete=models.PROTECT, related_name="lines"
    )
    bank_account = models.ForeignKey(
        BankAccount, on_delete=models.PROTECT, related_name="lines"
    )
    booking_date = models.DateField()
    value_date = models.DateField(null=True, blank=True)
    amount = models.DecimalField(**MONEY, help_text="Signed: + money in, - out.")
    currency = models.CharField(max_length=3)
    direction = models.CharField(max_length=6, choices=Direction.choices)
    bank_reference = models.CharField(max_length=140, blank=True)
    entry_reference = models.CharField(max_length=140, blank=True)
    end_to_end_id = models.CharField(max_length=140, blank=True)
    remittance = models.TextField(blank=True)
    structured_reference = models.CharField(max_length=140, blank=True)
    payer_name = models.CharField(max_length=200, blank=True)
    payer_account = models.CharField(max_length=40, blank=True)
    payer_bic = models.CharField(max_length=11, blank=True)
    transaction_code = models.CharField(max_length=40, blank=True)
    is_reversal = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=S.NEW)
    matched_by = models.CharField(max_length=150, blank=True)
    match_reason = models.TextField(blank=True)
    confidence = models.PositiveSmallIntegerField(null=True, blank=True)
    customer = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="statement_lines",
    )
    reversed_line = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversals",
        help_text="For a bank reversal: the credit it takes back.",
    )
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # The same transaction read from an overlapping statement or the same
            # file again is the same line.
            models.UniqueConstraint(
                fields=["bank_account", "booking_date", "amount", "bank_reference"],
                name="statementline_identity",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "status", "booking_date"],
                name="statementline_status_idx",
            ),
            models.Index(
                fields=["organization", "statement"], name="statementline_stmt_idx"
            ),
            models.Index(
                fields=["organization", "bank_account", "end_to_end_id"],
                name="statementline_e2e_idx",
            ),
        ]

    def __str__(self):
        return f"{self.booking_date} {self.amount} {self.currency}"

    @property
    def match_reason_display(self) -> str:
        """The reason in the active language, for pages (the API keeps it as stored)."""
        return reasons_display(self.match_reason)

    @property
    def paid_on(self):
        """The day the customer's money arrived, for discount terms: the value
        date when the bank gives one, else the booking date."""
        return self.value_date or self.booking_date


class CustomerBankAccount(TenantModel):
    """A customer's account we have seen paying: learnt from confirmed matches,
    editable by a person. Used to recognise the payer of later lines."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="bank_accounts"
    )
    account = models.CharField(max_length=40, help_text="IBAN or account number.")
    payer_name = models.CharField(max_length=200, blank=True)
    learnt_from = models.ForeignKey(
        StatementLine, null=True, blank=True, on_delete=models.SET_NULL
    )
    confirmed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "account"],
                name="customerbankaccount_unique_account",
            ),
        ]

    def __str__(self):
        return self.account


class MatchSuggestion(TenantModel):
    """A ranked candidate for an open statement line, kept for the queue."""

    class Action(models.TextChoices):
        APPLY = "apply", _("Apply")
        APPLY_AND_WRITE_OFF = "apply_and_write_off", _("Apply and write off")
        APPLY_WITH_DISCOUNT = "apply_with_discount", _("Apply with discount")
        ON_ACCOUNT = "on_account", _("Put on account")

    line = models.ForeignKey(
        StatementLine, on_delete=models.CASCADE, related_name="suggestions"
    )
    rank = models.PositiveSmallIntegerField()
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
    invoices = models.JSONField(
        default=list, help_text='[{"invoice": id, "amount": "12.50"}, ...]'
    )
    confidence = models.PositiveSmallIntegerField()
    reasons = models.JSONField(default=list)
    action = models.CharField(max_length=20, choices=Action.choices)

    class Meta:
        ordering = ["rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["line", "rank"], name="matchsuggestion_unique_rank"
            )
        ]

    @property
    def reasons_display(self) -> list[str]:
        """The reasons in the active language, for pages (the API keeps them)."""
        return [reason_display(reason) for reason in self.reasons]


class ReconciliationSettings(TenantModel):
    """How boldly the matching engine acts; one row per organization."""

    class ShortPaymentAction(models.TextChoices):
        WRITE_OFF = "write_off", _("Write off the difference")
        LEAVE_OPEN = "leave_open", _("Leave the difference open")

    auto_apply_threshold = models.PositiveSmallIntegerField(default=95)
    auto_apply_margin = models.PositiveSmallIntegerField(
        default=15, help_text="Points the best candidate must lead the next by."
    )
    short_payment_tolerance_percent = models.DecimalField(
        max_digits=5, decimal_places=2, default=0
    )
    short_payment_tolerance_amounts = models.JSONField(
        default=dict, blank=True, help_text='Per currency, e.g. {"EUR": "5.00"}.'
    )
    short_payment_action = models.CharField(
        max_length=10,
        choices=ShortPaymentAction.choices,
        default=ShortPaymentAction.WRITE_OFF,
    )
    early_payment_discount = models.BooleanField(
        default=True,
        help_text="Grant an invoice's early-payment discount when paid within "
        "its terms.",
    )
    discount_grace_days = models.PositiveSmallIntegerField(
        default=3,
        help_text="Days after the discount date a payment still earns the "
        "discount (bank transfer time).",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization"], name="reconciliationsettings_one_per_org"
            )
        ]


class RemittanceAdvice(TenantModel):
    """A customer's word that it paid: "these invoices, this amount, on this day,
    with this reference" (sent from the customer portal).

    It posts nothing: the money is real only when the bank line arrives. The
    matching engine reads open advice as a hint (an advised amount and its
    invoices for a line of that amount), and a match consumes it.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        MATCHED = "matched", _("Matched")

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="remittance_advice"
    )
    invoices = models.ManyToManyField(
        Invoice, through="RemittanceAdviceInvoice", related_name="+"
    )
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(**MONEY)
    paid_on = models.DateField()
    reference = models.CharField(max_length=140, blank=True)
    note = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default="open")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["organization", "status", "currency", "amount"],
                name="remittance_open_amount_idx",
            ),
        ]

    def __str__(self):
        return f"remittance advice #{self.pk}"


class RemittanceAdviceInvoice(TenantModel):
    advice = models.ForeignKey(RemittanceAdvice, on_delete=models.CASCADE)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["advice", "invoice"], name="remittanceinvoice_unique"
            ),
        ]
