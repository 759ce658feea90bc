"""Invoices, credit notes and the append-only receivables ledger."""

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _

from o2c.tenancy import TenantModel
from orders.models import MONEY, QUANTITY, Customer, Item, SalesOrder, SalesOrderLine


class Invoice(TenantModel):
    """A receivable. ``open_amount`` is a cache of the ledger, kept by one service.

    ``open``, ``partially_paid`` and ``paid`` are derived from the open amount by
    ``invoicing.services.ledger`` and never set by hand; ``paid`` means nothing is
    left to collect (settled by payments, credit notes or write-offs).
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        OPEN = "open", _("Open")
        PARTIALLY_PAID = "partially_paid", _("Partially paid")
        PAID = "paid", _("Paid")
        VOID = "void", _("Void")

    class Source(models.TextChoices):
        ORDER = "order", _("Sales order")
        DIRECT = "direct", _("Direct")
        IMPORT = "import", _("Imported")

    S = Status
    TRANSITIONS = {
        S.DRAFT: {S.OPEN, S.PAID, S.VOID},
        S.OPEN: {S.PARTIALLY_PAID, S.PAID, S.VOID},
        S.PARTIALLY_PAID: {S.OPEN, S.PAID},
        S.PAID: {S.OPEN, S.PARTIALLY_PAID},
        S.VOID: set(),
    }
    ISSUED = (S.OPEN, S.PARTIALLY_PAID, S.PAID)

    number = models.CharField(max_length=40, null=True, blank=True)
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="invoices"
    )
    sales_order = models.ForeignKey(
        SalesOrder,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoices",
    )
    source = models.CharField(
        max_length=10, choices=Source.choices, default=Source.DIRECT
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.DRAFT
    )
    currency = models.CharField(max_length=3)
    invoice_date = models.DateField()
    due_date = models.DateField()
    customer_reference = models.CharField(max_length=100, blank=True)
    external_id = models.CharField(max_length=100, null=True, blank=True)
    subtotal = models.DecimalField(**MONEY, default=Decimal(0))
    tax_total = models.DecimalField(**MONEY, default=Decimal(0))
    total = models.DecimalField(**MONEY, default=Decimal(0))
    open_amount = models.DecimalField(**MONEY, default=Decimal(0))
    notes = models.TextField(blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    settled_date = models.DateField(null=True, blank=True)
    # The early-payment discount as issued (copied from the payment term at
    # issue; a later change of the term does not touch it).
    discount_percent = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True
    )
    discount_date = models.DateField(null=True, blank=True)
    discount_amount = models.DecimalField(**MONEY, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "number"], name="invoice_unique_number"
            ),
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                name="invoice_unique_external_id",
            ),
            models.CheckConstraint(
                condition=models.Q(open_amount__gte=0), name="invoice_open_nonneg"
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "customer", "status"],
                name="invoice_customer_status_idx",
            ),
            models.Index(
                fields=["organization", "status", "due_date"],
                name="invoice_status_due_idx",
            ),
            models.Index(fields=["organization", "-id"], name="invoice_org_id_idx"),
            # Lists newest first by status, and of the open ones (overdue):
            # with only the two above, PostgreSQL took other tenants' newer
            # invoices for this one's and walked the primary key backwards
            # through all of them (a second at 2,000,000 invoices and 200
            # tenants) to fill a page.
            models.Index(
                fields=["organization", "status", "-id"], name="invoice_status_id_idx"
            ),
            models.Index(
                fields=["organization", "-id"],
                condition=models.Q(status__in=["open", "partially_paid"]),
                name="invoice_open_id_idx",
            ),
            # Open receivables per customer and currency (balances, overdue): a
            # small partial index, since most invoices of a mature book are paid.
            models.Index(
                fields=[
                    "organization",
                    "customer",
                    "currency",
                    "due_date",
                    "open_amount",
                ],
                condition=models.Q(status__in=["open", "partially_paid"]),
                name="invoice_open_customer_idx",
            ),
            # The same by open amount rather than status: the ledger service
            # reads it for the receivables summary while an invoice being issued
            # still has its draft status, and today's aging sums it (index-only).
            models.Index(
                fields=[
                    "organization",
                    "customer",
                    "currency",
                    "due_date",
                    "open_amount",
                ],
                condition=models.Q(open_amount__gt=0),
                name="invoice_receivable_idx",
            ),
            # The overdue invoices by due date with their amounts: today's
            # aging totals read the buckets past due from these entries alone
            # (index-only) and take "Current" from the receivables summary.
            models.Index(
                fields=["organization", "due_date"],
                include=["currency", "open_amount"],
                condition=models.Q(open_amount__gt=0),
                name="invoice_overdue_idx",
            ),
            # Open invoices by amount: the matching engine looks up "the oldest
            # open invoices of exactly this amount" per bank line, a few index
            # entries however many invoices share the amount.
            models.Index(
                fields=["organization", "currency", "open_amount", "due_date"],
                condition=models.Q(status__in=["open", "partially_paid"]),
                name="invoice_open_amount_idx",
            ),
            # The invoices receivable on a past date (issued by then, settled
            # after it or not at all): the aging as of that date reads these
            # index ranges rather than every invoice of the organization.
            models.Index(
                fields=["organization", "settled_date", "invoice_date"],
                name="invoice_receivable_on_idx",
            ),
        ]

    def __str__(self):
        return self.number or f"draft #{self.pk}"

    @property
    def is_issued(self) -> bool:
        return self.status in self.ISSUED

    @property
    def has_discount(self) -> bool:
        return bool(self.discount_amount)


class InvoiceLine(TenantModel):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField()
    order_line = models.ForeignKey(
        SalesOrderLine,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoice_lines",
    )
    item = models.ForeignKey(Item, null=True, blank=True, on_delete=models.PROTECT)
    description = models.CharField(max_length=300)
    quantity = models.DecimalField(**QUANTITY)
    unit_price = models.DecimalField(**MONEY)
    net_amount = models.DecimalField(**MONEY)
    tax_rate = models.DecimalField(max_digits=6, decimal_places=3, default=Decimal(0))
    tax_amount = models.DecimalField(**MONEY, default=Decimal(0))

    class Meta:
        ordering = ["position"]

    @property
    def total(self):
        return self.net_amount + self.tax_amount


class InvoiceInstalment(TenantModel):
    """One due date of an invoice on instalment terms (a single row otherwise)."""

    invoice = models.ForeignKey(
        Invoice, on_delete=models.CASCADE, related_name="instalments"
    )
    sequence = models.PositiveSmallIntegerField()
    due_date = models.DateField()
    amount = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "sequence"], name="instalment_unique_sequence"
            )
        ]


class CreditNote(TenantModel):
    """Credit against one invoice; it reduces the invoice's open amount."""

    class Status(models.TextChoices):
        ISSUED = "issued", _("Issued")
        VOID = "void", _("Void")

    S = Status
    TRANSITIONS = {S.ISSUED: {S.VOID}, S.VOID: set()}

    number = models.CharField(max_length=40)
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="credit_notes"
    )
    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, related_name="credit_notes"
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.ISSUED
    )
    currency = models.CharField(max_length=3)
    credit_date = models.DateField()
    reason = models.CharField(max_length=300)
    subtotal = models.DecimalField(**MONEY)
    tax_total = models.DecimalField(**MONEY)
    total = models.DecimalField(**MONEY)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "number"], name="creditnote_unique_number"
            ),
        ]

    def __str__(self):
        return self.number


class CreditNoteLine(TenantModel):
    credit_note = models.ForeignKey(
        CreditNote, on_delete=models.CASCADE, related_name="lines"
    )
    position = models.PositiveIntegerField()
    description = models.CharField(max_length=300)
    quantity = models.DecimalField(**QUANTITY)
    unit_price = models.DecimalField(**MONEY)
    net_amount = models.DecimalField(**MONEY)
    tax_rate = models.DecimalField(max_digits=6, decimal_places=3, default=Decimal(0))
    tax_amount = models.DecimalField(**MONEY, default=Decimal(0))

    class Meta:
        ordering = ["position"]


class LedgerEntry(TenantModel):
    """One line of the append-only receivables ledger (debit > 0, credit < 0).

    Every entry belongs to a customer; entries with an invoice move that invoice's
    open amount, entries without one are cash on the customer's account (a payment
    received but not yet allocated). An allocation therefore posts a pair: a credit
    on the invoice and an equal debit on account, so the customer's balance is
    unchanged and the payment's unapplied cash falls.

    ``payment_id`` / ``document_id`` name the originating rows of other apps by id:
    the ledger sits below reconciliation in the dependency order and must not
    import it. A correction is a new entry with ``reverses`` set, never an UPDATE.
    """

    # Indexed by ledger_org_id_idx, which leads with it: a second index on the
    # organization alone is smaller, so the planner would take it and filter a
    # tenant's every entry where the pair reads only the newest.
    organization = models.ForeignKey(
        "o2c.Organization", on_delete=models.PROTECT, related_name="+", db_index=False
    )

    class Kind(models.TextChoices):
        INVOICE = "invoice", _("Invoice")
        FEE = "fee", _("Fee / debit note")
        CREDIT_NOTE = "credit_note", _("Credit note")
        PAYMENT = "payment", _("Payment received")
        ALLOCATION = "allocation", _("Payment allocation")
        WRITE_OFF = "write_off", _("Write-off")
        DISCOUNT = "discount", _("Early-payment discount")
        IMPORTED_SETTLEMENT = "imported_settlement", _("Settlement (imported history)")
        REVERSAL = "reversal", _("Reversal")

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="ledger_entries"
    )
    invoice = models.ForeignKey(
        Invoice,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_entries",
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    posting_date = models.DateField()
    document_type = models.CharField(max_length=40)
    document_id = models.BigIntegerField()
    payment_id = models.BigIntegerField(null=True, blank=True)
    reverses = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversed_by",
    )
    memo = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "ledger entries"
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(amount=0), name="ledger_amount_nonzero"
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "customer", "posting_date"],
                name="ledger_customer_date_idx",
            ),
            # Tenant-scoped queries always filter by organization too; leading
            # with it lets SQLite's planner pick this index without statistics.
            models.Index(
                fields=["organization", "invoice", "posting_date"],
                name="ledger_invoice_date_idx",
            ),
            models.Index(
                fields=["organization", "payment_id"], name="ledger_payment_idx"
            ),
            models.Index(
                fields=["organization", "document_type", "document_id"],
                name="ledger_document_idx",
            ),
            # "Any entry after id N?" (the metrics snapshot's freshness check on
            # every dashboard): one tenant's newest entries, not all of its
            # entries filtered, nor the later tenants' ids walked through. It is
            # also the organization foreign key's index (see above).
            # The posting date is carried so that the check reads this index
            # alone: with heap reads to make, PostgreSQL found the primary key
            # cheaper and walked every later tenant's entries.
            models.Index(
                fields=["organization", "id"],
                include=["posting_date"],
                name="ledger_org_id_idx",
            ),
            # Cash on account by posting date, with what the aging as of a past
            # date sums (index-only): a tenant's on-account entries up to or
            # after that date, not every entry of every tenant filtered.
            models.Index(
                fields=["organization", "posting_date"],
                include=["customer", "currency", "amount"],
                condition=models.Q(invoice__isnull=True),
                name="ledger_on_account_date_idx",
            ),
            # Reversals by posting date: the metrics read the voids of invoices
            # and fees (negative sales) apart from the pass over every entry.
            models.Index(
                fields=["organization", "posting_date"],
                condition=models.Q(kind="reversal"),
                name="ledger_reversal_date_idx",
            ),
        ]


class ReceivablesSummary(TenantModel):
    """A customer's receivables in one currency, kept for sorted lists and totals.

    Written by the ledger service only, in the statement after each posting
    (``invoicing.services.summary``), and rebuilt from the ledger after a bulk
    load; ``verify_ledger`` checks it against the ledger and the open invoices.

    ``balance`` is the sum of the customer's entries in the currency (open on
    invoices minus cash on account), ``invoices_open`` the part on invoices and
    ``unapplied_cash`` the cash received and not applied (positive).
    ``overdue`` is what is open on invoices due before the day it was computed,
    and stays right until ``next_due_date`` has passed: the earliest due date among
    the open invoices not counted as overdue (never later than it, None when there
    is none). A reader refreshes the rows whose ``next_due_date`` is before its
    today first. ``oldest_due_date`` is the earliest due date among open invoices.
    A customer without a row has nothing in that currency.
    """

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="receivables"
    )
    currency = models.CharField(max_length=3)
    balance = models.DecimalField(**MONEY, default=Decimal(0))
    invoices_open = models.DecimalField(**MONEY, default=Decimal(0))
    unapplied_cash = models.DecimalField(**MONEY, default=Decimal(0))
    overdue = models.DecimalField(**MONEY, default=Decimal(0))
    oldest_due_date = models.DateField(null=True, blank=True)
    next_due_date = models.DateField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "receivables summaries"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "customer", "currency"],
                name="receivables_unique_customer",
            ),
        ]
        indexes = [
            # The customer list sorted by balance or overdue, largest first,
            # walks one of these in its order (currency, amount descending, id
            # descending) and stops after a page.
            models.Index(
                fields=["organization", "currency", "-balance", "-customer"],
                name="receivables_balance_idx",
            ),
            models.Index(
                fields=["organization", "currency", "-overdue", "-customer"],
                name="receivables_overdue_idx",
            ),
            # The rows whose overdue figure has expired.
            models.Index(
                fields=["organization", "next_due_date"],
                name="receivables_next_due_idx",
            ),
            # Today's aging ranks customers by open or overdue amount (ties by
            # id ascending), only those with figures: a page is read in the
            # order of one of these and stops after it.
            models.Index(
                fields=["organization", "currency", "-invoices_open", "customer"],
                condition=~models.Q(invoices_open=0) | ~models.Q(unapplied_cash=0),
                name="receivables_open_rank_idx",
            ),
            models.Index(
                fields=["organization", "currency", "-overdue", "customer"],
                condition=~models.Q(invoices_open=0) | ~models.Q(unapplied_cash=0),
                name="receivables_overdue_rank_idx",
            ),
        ]


class InvoiceDelivery(TenantModel):
    """One email of an issued invoice (or credit note) to a customer's billing contacts.

    The row is written before sending; ``sending`` that never became ``sent`` or
    ``failed`` means the worker stopped between SMTP and recording: a person checks
    it, it is never resent automatically.
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
        S.FAILED: {S.PENDING},
        S.NO_RECIPIENT: {S.PENDING},
    }

    invoice = models.ForeignKey(
        Invoice,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    credit_note = models.ForeignKey(
        CreditNote,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    status = models.CharField(
        max_length=15, choices=Status.choices, default=Status.PENDING
    )
    recipients = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    message_id = models.CharField(max_length=300, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "invoice deliveries"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(invoice__isnull=False)
                | models.Q(credit_note__isnull=False),
                name="delivery_has_document",
            )
        ]


class ImportedSettlement(TenantModel):
    """History brought from an old system: when an imported invoice was settled.

    Imported settled invoices post their debit and an equal settlement credit so the
    ledger balances, and this row keeps the original settled date for payment
    behaviour statistics.
    """

    invoice = models.OneToOneField(
        Invoice, on_delete=models.CASCADE, related_name="imported_settlement"
    )
    settled_date = models.DateField()
    amount = models.DecimalField(**MONEY)


class InvoiceEmailText(TenantModel):
    """The organization's wording of the invoice email in one language.

    Subject and body use Django template syntax over plain values (see
    :mod:`invoicing.services.email_text`); a customer gets the text of its
    language, else the organization's English one, else the standard text.
    """

    language = models.CharField(max_length=8)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "language"],
                name="invoiceemailtext_unique_language",
            )
        ]

    def __str__(self):
        return f"invoice email ({self.language})"


class InvoicePrediction(TenantModel):
    """When an open invoice is expected to be paid, as scored by the last nightly
    prediction run (``collecting.prediction``); owned here so that invoicing's
    API, collecting's worklist and reports read it without importing the
    predictor. ``run_id`` names the ``collecting.PredictionModel`` row by id.

    Dates: ``expected_date`` (median), ``earliest_date``/``latest_date`` the
    calibrated 80 % interval. ``reasons``: the largest contributions in days,
    as ``[{"code": ..., "value": ..., "days": ...}]`` (put in words at display
    time, in the reader's language).
    """

    class Kind(models.TextChoices):
        MODEL = "model", _("Trained model")
        BASELINE = "baseline", _("Customer median (baseline)")

    invoice = models.OneToOneField(
        Invoice, on_delete=models.CASCADE, related_name="prediction"
    )
    run_id = models.BigIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    as_of = models.DateField()
    expected_date = models.DateField()
    earliest_date = models.DateField()
    latest_date = models.DateField()
    expected_days_late = models.IntegerField()
    chance_within_terms = models.DecimalField(max_digits=4, decimal_places=3)
    chance_within_30_days = models.DecimalField(max_digits=4, decimal_places=3)
    reasons = models.JSONField(default=list, blank=True)

    @property
    def expected_late(self) -> bool:
        return self.expected_days_late > 0


class PortalSettings(TenantModel):
    """What the customer portal offers and how long its links live; one row per
    organization (the defaults when it has none). It lives here, not in
    ``portal``, because invoice emails (here) and notices and statements (above)
    issue the links and read the lifetime."""

    offer_pay = models.BooleanField(
        default=True, help_text=_("Show bank details and the payment QR code.")
    )
    offer_dispute = models.BooleanField(default=True)
    offer_promise = models.BooleanField(default=True)
    offer_remittance = models.BooleanField(default=True)
    promise_window_days = models.PositiveSmallIntegerField(
        default=30,
        help_text=_("How many days ahead a customer may promise to pay."),
    )
    link_lifetime_days = models.PositiveSmallIntegerField(
        default=90,
        help_text=_(
            "Days a link keeps working after its invoice (or the whole account) "
            "is settled."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization"], name="portalsettings_one_per_org"
            ),
        ]


class PortalAccess(TenantModel):
    """One link into the customer portal: a random token, kept only as its
    SHA-256, tied to one customer (and the invoice it was sent with, if any).

    A link from an invoice email works while the invoice is open and for the
    organization's link lifetime after it is settled; a link from a notice or a
    statement likewise for the customer's whole account. A sign-in link works
    once, within 15 minutes. Any link can be revoked.
    """

    class Kind(models.TextChoices):
        INVOICE = "invoice", _("Invoice email")
        NOTICE = "notice", _("Dunning notice")
        STATEMENT = "statement", _("Statement")
        SIGN_IN = "sign_in", _("Sign-in link")
        MANUAL = "manual", _("Issued by a person")

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="portal_accesses"
    )
    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    email = models.EmailField(blank=True, help_text=_("Where a sign-in link went."))
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["organization", "customer", "-created_at"],
                name="portalaccess_customer_idx",
            ),
        ]

    def __str__(self):
        return f"portal access #{self.pk} ({self.kind})"

    @property
    def single_use(self) -> bool:
        return self.kind == self.Kind.SIGN_IN
