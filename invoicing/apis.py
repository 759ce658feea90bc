"""REST API for invoices, credit notes, the ledger and customer balances."""

import django_filters
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ErrorDetail, NotFound
from rest_framework.response import Response

from invoicing import portal
from invoicing.models import (
    CreditNote,
    CreditNoteLine,
    Invoice,
    InvoiceInstalment,
    InvoiceLine,
    InvoicePrediction,
    LedgerEntry,
    PortalSettings,
)
from invoicing.prediction import prediction_for, reasons_in_words
from invoicing.selectors import customer_balances, invoice_open_amount
from invoicing.services import batch, invoices
from invoicing.services.batch import MAX_BATCH
from o2c.api.base import TenantAPIView, TenantViewSet
from o2c.api.errors import NOT_FOUND, input_named
from o2c.api.fields import (
    DateField,
    MoneyField,
    PlainDecimalField,
    QuantityField,
    TenantRelatedField,
)
from o2c.api.filters import ChoicesFilter, TenantIdFilter
from o2c.api.serializers import (
    ModelSerializer,
    QuerySerializer,
    Serializer,
    representations,
)
from o2c.errors import DomainError
from o2c.tenancy import current_organization
from orders.models import Customer, Item, SalesOrder, SalesOrderLine


class LineInput(Serializer):
    item = TenantRelatedField(Item, required=False, allow_null=True)
    description = serializers.CharField(max_length=300, required=False, default="")
    quantity = QuantityField()
    unit_price = MoneyField()
    tax_rate = PlainDecimalField(
        max_digits=6, decimal_places=3, required=False, allow_null=True
    )
    tax_amount = MoneyField(
        required=False,
        allow_null=True,
        help_text="Tax of the line; computed from tax_rate when absent.",
    )


class OrderLineRef(Serializer):
    order_line = TenantRelatedField(SalesOrderLine)
    quantity = QuantityField()


class InvoiceInput(Serializer):
    """Either ``sales_order`` (bill shipped lines) or ``customer`` + ``lines``."""

    sales_order = TenantRelatedField(SalesOrder, required=False)
    order_lines = OrderLineRef(
        many=True,
        required=False,
        allow_empty=False,
        help_text="Shipped order lines and quantities to bill; default all.",
    )
    customer = TenantRelatedField(Customer, required=False)
    currency = serializers.CharField(max_length=3, required=False)
    invoice_date = DateField()
    due_date = DateField(
        required=False, help_text="Overrides the customer's payment terms."
    )
    number = serializers.CharField(
        max_length=40,
        required=False,
        help_text="Only for invoices numbered by another billing system.",
    )
    external_id = serializers.CharField(max_length=100, required=False)
    customer_reference = serializers.CharField(
        max_length=100, required=False, default=""
    )
    notes = serializers.CharField(required=False, default="", allow_blank=True)
    lines = LineInput(many=True, required=False)
    issue = serializers.BooleanField(
        default=False, help_text="Issue at once (number it and post it)."
    )

    def validate(self, attrs):
        if attrs.get("sales_order"):
            extra = {"customer", "lines", "currency", "number", "due_date"} & set(attrs)
            if extra:
                raise serializers.ValidationError(
                    {name: "Not allowed with sales_order." for name in sorted(extra)}
                )
        else:
            if not attrs.get("customer"):
                raise serializers.ValidationError(
                    {"customer": "This field is required."}
                )
            if not attrs.get("lines"):
                raise serializers.ValidationError({"lines": "This field is required."})
        return attrs


class BatchLineInput(LineInput):
    # Ids, resolved for the whole batch in one query by the view.
    item = serializers.IntegerField(required=False, allow_null=True, min_value=1)


class BatchInvoiceInput(InvoiceInput):
    """One direct invoice of a batch: ``customer`` + ``lines``, as one by one."""

    sales_order = None
    order_lines = None
    issue = None
    customer = serializers.IntegerField(min_value=1)
    lines = BatchLineInput(many=True, required=False)


class InvoiceBatchInput(Serializer):
    issue = serializers.BooleanField(
        default=False, help_text="Issue every invoice at once (number and post it)."
    )
    invoices = BatchInvoiceInput(
        many=True,
        allow_empty=False,
        max_length=MAX_BATCH,
        help_text=f"Up to {MAX_BATCH:,} direct invoices; all are created or none.",
    )


class InvoiceLineOutput(ModelSerializer):
    unit_price = MoneyField(currency_source="invoice.currency")
    net_amount = MoneyField(currency_source="invoice.currency")
    tax_amount = MoneyField(currency_source="invoice.currency")

    class Meta:
        model = InvoiceLine
        fields = [
            "id", "position", "order_line", "item", "description", "quantity",
            "unit_price", "net_amount", "tax_rate", "tax_amount",
        ]  # fmt: skip


class InstalmentOutput(ModelSerializer):
    amount = MoneyField(currency_source="invoice.currency")

    class Meta:
        model = InvoiceInstalment
        fields = ["sequence", "due_date", "amount"]


class PredictionReasonOutput(Serializer):
    code = serializers.CharField(help_text="Which feature (stable, for programs).")
    text = serializers.CharField(help_text="The reason in the reader's language.")
    days = serializers.IntegerField(
        help_text="How many days it moves the expected date (+ later, - earlier)."
    )


class PredictionOutput(ModelSerializer):
    """When the open invoice is expected to be paid (scored nightly)."""

    expected_late = serializers.BooleanField(
        read_only=True, help_text="Expected to be paid after its due date."
    )
    chance_within_terms = serializers.DecimalField(
        max_digits=4,
        decimal_places=3,
        read_only=True,
        help_text="Probability (0 to 1) of being paid by the due date.",
    )
    chance_within_30_days = serializers.DecimalField(
        max_digits=4,
        decimal_places=3,
        read_only=True,
        help_text="Probability of being paid at most 30 days past the due date.",
    )
    reasons = serializers.SerializerMethodField()

    class Meta:
        model = InvoicePrediction
        fields = [
            "kind", "as_of", "expected_date", "earliest_date", "latest_date",
            "expected_days_late", "expected_late", "chance_within_terms",
            "chance_within_30_days", "reasons",
        ]  # fmt: skip

    @extend_schema_field(PredictionReasonOutput(many=True))
    def get_reasons(self, prediction):
        return reasons_in_words(prediction)


class InvoiceOutput(ModelSerializer):
    subtotal = MoneyField()
    tax_total = MoneyField()
    total = MoneyField()
    open_amount = MoneyField()
    discount_percent = PlainDecimalField(
        max_digits=5,
        decimal_places=2,
        read_only=True,
        allow_null=True,
        help_text="Early-payment discount as issued, in percent (null: none).",
    )
    discount_date = serializers.DateField(
        read_only=True,
        allow_null=True,
        help_text="Last day the discount is granted (null: none).",
    )
    discount_amount = MoneyField(
        read_only=True,
        allow_null=True,
        help_text="The discount in the invoice currency, at its minor unit.",
    )
    prediction = serializers.SerializerMethodField(
        help_text="Expected payment (open invoices, scored nightly; null: none)."
    )

    class Meta:
        model = Invoice
        fields = [
            "id", "number", "customer", "sales_order", "source", "status", "currency",
            "invoice_date", "due_date", "customer_reference", "external_id",
            "subtotal", "tax_total", "total", "open_amount", "discount_percent",
            "discount_date", "discount_amount", "settled_date", "issued_at",
            "created_at", "prediction",
        ]  # fmt: skip

    @extend_schema_field(PredictionOutput(allow_null=True))
    def get_prediction(self, invoice):
        try:
            prediction = invoice.prediction
        except InvoicePrediction.DoesNotExist:
            return None
        return PredictionOutput(prediction).data


class InvoiceEventOutput(InvoiceOutput):
    """An invoice in an event: as listed, without the nightly prediction (a score,
    not a fact of the event; ``GET /invoices/{id}/prediction/`` has it)."""

    prediction = None

    class Meta(InvoiceOutput.Meta):
        fields = [f for f in InvoiceOutput.Meta.fields if f != "prediction"]


class InvoiceDetailOutput(InvoiceOutput):
    lines = InvoiceLineOutput(many=True, read_only=True)
    instalments = InstalmentOutput(many=True, read_only=True)

    class Meta(InvoiceOutput.Meta):
        fields = [*InvoiceOutput.Meta.fields, "notes", "lines", "instalments"]


class InvoiceBatchOutput(serializers.Serializer):
    count = serializers.IntegerField()
    issued = serializers.BooleanField()
    invoices = InvoiceOutput(many=True)


# The batch's answer shows up to 1,000 invoices: read through the field plan
# events use (the same JSON as ``InvoiceOutput``, in a third of the time).
_shown_invoices = representations(InvoiceOutput)


class VoidInput(Serializer):
    reason = serializers.CharField(required=False, default="", allow_blank=True)
    void_date = DateField(required=False)


class AsOfInput(QuerySerializer):
    as_of = DateField(required=False)


class InvoiceBalanceOutput(Serializer):
    invoice = serializers.IntegerField()
    as_of = serializers.DateField()
    currency = serializers.CharField()
    open_amount = MoneyField()


class InvoiceFilter(django_filters.FilterSet):
    customer = TenantIdFilter(field_name="customer_id", model=Customer)
    sales_order = TenantIdFilter(field_name="sales_order_id", model=SalesOrder)
    status = ChoicesFilter(choices=Invoice.Status.choices)
    currency = django_filters.CharFilter()
    number = django_filters.CharFilter()
    source = django_filters.ChoiceFilter(choices=Invoice.Source.choices)
    invoice_date_after = django_filters.DateFilter("invoice_date", lookup_expr="gte")
    invoice_date_before = django_filters.DateFilter("invoice_date", lookup_expr="lte")
    due_date_after = django_filters.DateFilter("due_date", lookup_expr="gte")
    due_date_before = django_filters.DateFilter("due_date", lookup_expr="lte")
    total_min = django_filters.NumberFilter("total", lookup_expr="gte")
    total_max = django_filters.NumberFilter("total", lookup_expr="lte")
    open_amount_min = django_filters.NumberFilter("open_amount", lookup_expr="gte")
    open_amount_max = django_filters.NumberFilter("open_amount", lookup_expr="lte")
    overdue = django_filters.BooleanFilter(
        method="filter_overdue",
        label="Open and past due in the organization's local today",
    )
    expected_late = django_filters.BooleanFilter(
        method="filter_expected_late",
        label="Predicted to be paid after the due date (true) or by it (false); "
        "invoices without a prediction match neither",
    )

    class Meta:
        model = Invoice
        fields = []

    def filter_overdue(self, queryset, name, value):
        today = current_organization().today()
        overdue = Q(
            status__in=(Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID),
            due_date__lt=today,
        )
        return queryset.filter(overdue) if value else queryset.exclude(overdue)

    def filter_expected_late(self, queryset, name, value):
        if value:
            return queryset.filter(prediction__expected_days_late__gt=0)
        return queryset.filter(prediction__expected_days_late__lte=0)


class InvoiceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    filterset_class = InvoiceFilter
    capability = "bill"

    def get_queryset(self):
        invoices_with_prediction = Invoice.objects.select_related("prediction")
        if self.action == "retrieve":
            return invoices_with_prediction.prefetch_related("lines", "instalments")
        return invoices_with_prediction

    def get_serializer_class(self):
        return InvoiceDetailOutput if self.action == "retrieve" else InvoiceOutput

    @extend_schema(request=InvoiceInput, responses={201: InvoiceDetailOutput})
    def create(self, request):
        data = InvoiceInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        issue = values.pop("issue")
        if values.get("sales_order"):
            order_lines = values.pop("order_lines", None)
            with input_named("lines", "order_lines"):
                invoice = invoices.invoice_create_from_order(
                    order=values["sales_order"],
                    invoice_date=values["invoice_date"],
                    lines=[(ref["order_line"], ref["quantity"]) for ref in order_lines]
                    if order_lines
                    else None,
                    notes=values.get("notes", ""),
                    actor=self.actor,
                )
        else:
            if values.pop("order_lines", None):
                raise DomainError(
                    "invalid", "order_lines need a sales_order.", field="order_lines"
                )
            lines = [invoices.LineInput(**line) for line in values.pop("lines")]
            invoice = invoices.invoice_create(
                actor=self.actor, lines=lines, issue=issue, **values
            )
            issue = False  # issued by invoice_create
        if issue:
            invoice = invoices.invoice_issue(invoice=invoice, actor=self.actor)
        return Response(self._detail(invoice), status=status.HTTP_201_CREATED)

    @extend_schema(request=InvoiceBatchInput, responses={201: InvoiceBatchOutput})
    @action(detail=False, methods=["post"])
    def batch(self, request):
        """Create (and with ``issue`` issue) up to 1,000 direct invoices in one
        transaction: all of them, or none and an error naming the item at fault
        (``invoices[12].lines[0].unit_price``). Each is checked as by ``POST
        /invoices/``; an ``Idempotency-Key`` covers the whole batch."""
        data = InvoiceBatchInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        items = values["invoices"]
        customers, catalog = _batch_references(items)
        created = batch.invoice_batch_create(
            invoices=[
                batch.BatchInvoice(
                    customer=customers[item.pop("customer")],
                    lines=[
                        invoices.LineInput(
                            **(line | {"item": catalog.get(line.get("item"))})
                        )
                        for line in item.pop("lines")
                    ],
                    **item,
                )
                for item in items
            ],
            issue=values["issue"],
            actor=self.actor,
        )
        # Scored nightly, a prediction cannot exist yet for an invoice created
        # in this transaction: answered without a read per invoice.
        for invoice in created:
            Invoice.prediction.related.set_cached_value(invoice, None)
        body = {
            "count": len(created),
            "issued": values["issue"],
            "invoices": _shown_invoices(created),
        }
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=InvoiceDetailOutput)
    @action(detail=True, methods=["post"])
    def issue(self, request, pk=None):
        invoice = invoices.invoice_issue(invoice=self.get_object(), actor=self.actor)
        return Response(self._detail(invoice))

    @extend_schema(request=VoidInput, responses=InvoiceDetailOutput)
    @action(detail=True, methods=["post"])
    def void(self, request, pk=None):
        invoice = self.get_object()
        data = VoidInput(data=request.data)
        data.is_valid(raise_exception=True)
        invoice = invoices.invoice_void(
            invoice=invoice, actor=self.actor, **data.validated_data
        )
        return Response(self._detail(invoice))

    @extend_schema(parameters=[AsOfInput], responses=InvoiceBalanceOutput)
    @action(detail=True, methods=["get"])
    def balance(self, request, pk=None):
        """What was open on the invoice at the end of ``as_of`` (default: today)."""
        invoice = self.get_object()
        query = AsOfInput(data=request.query_params)
        query.is_valid(raise_exception=True)
        as_of = query.validated_data.get("as_of") or request.organization.today()
        body = {
            "invoice": invoice.pk,
            "as_of": as_of,
            "currency": invoice.currency,
            "open_amount": invoice_open_amount(invoice=invoice, as_of=as_of),
        }
        return Response(InvoiceBalanceOutput(body).data)

    @extend_schema(responses=PredictionOutput)
    @action(detail=True, methods=["get"])
    def prediction(self, request, pk=None):
        """When the invoice is expected to be paid: the median date, the 80 %
        interval, the chances of payment within terms and within 30 days past
        due, and the reasons. 404 when the invoice has no prediction (not open,
        or opened since the last nightly scoring)."""
        invoice = self.get_object()
        prediction = prediction_for(invoice)
        if prediction is None:
            raise NotFound(
                _("This invoice has no payment prediction yet."), code="no_prediction"
            )
        return Response(PredictionOutput(prediction).data)

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    # url_name: the browser page owns "invoice-pdf"
    @action(detail=True, methods=["get"], url_name="pdf-download")
    def pdf(self, request, pk=None):
        from invoicing.documents import render_invoice_pdf

        invoice = self.get_object()
        response = HttpResponse(render_invoice_pdf(invoice), "application/pdf")
        name = invoice.number or f"draft-{invoice.pk}"
        response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
        return response

    def _detail(self, invoice):
        return InvoiceDetailOutput(
            Invoice.objects.select_related("prediction")
            .prefetch_related("lines", "instalments")
            .get(pk=invoice.pk)
        ).data


def _batch_references(items) -> tuple[dict, dict]:
    """The batch's customers and catalog items, each read in one query; an id
    not in the caller's organization answers 404 with its path, as one by one."""
    customer_ids = {item["customer"] for item in items}
    item_ids = {
        line["item"] for item in items for line in item["lines"] if line.get("item")
    }
    customers = Customer.objects.select_related("payment_term").in_bulk(customer_ids)
    catalog = Item.objects.in_bulk(item_ids)
    missing = {}
    for index, item in enumerate(items):
        if item["customer"] not in customers:
            missing.setdefault(index, {})["customer"] = [
                _not_found(Customer, item["customer"])
            ]
        for position, line in enumerate(item["lines"]):
            if line.get("item") and line["item"] not in catalog:
                missing.setdefault(index, {}).setdefault("lines", {})[position] = {
                    "item": [_not_found(Item, line["item"])]
                }
    if missing:
        raise serializers.ValidationError({"invoices": missing})
    return customers, catalog


def _not_found(model, pk) -> ErrorDetail:
    return ErrorDetail(f"No {model._meta.verbose_name} with id {pk}.", NOT_FOUND)


# --- credit notes -------------------------------------------------------------------


class CreditNoteInput(Serializer):
    invoice = TenantRelatedField(Invoice)
    credit_date = DateField()
    reason = serializers.CharField(max_length=300)
    lines = LineInput(many=True, allow_empty=False)


class CreditNoteLineOutput(ModelSerializer):
    unit_price = MoneyField(currency_source="credit_note.currency")
    net_amount = MoneyField(currency_source="credit_note.currency")
    tax_amount = MoneyField(currency_source="credit_note.currency")

    class Meta:
        model = CreditNoteLine
        fields = [
            "position", "description", "quantity", "unit_price", "net_amount",
            "tax_rate", "tax_amount",
        ]  # fmt: skip


class CreditNoteOutput(ModelSerializer):
    subtotal = MoneyField()
    tax_total = MoneyField()
    total = MoneyField()
    lines = CreditNoteLineOutput(many=True, read_only=True)

    class Meta:
        model = CreditNote
        fields = [
            "id", "number", "customer", "invoice", "status", "currency",
            "credit_date", "reason", "subtotal", "tax_total", "total", "lines",
            "created_at",
        ]  # fmt: skip


class CreditNoteFilter(django_filters.FilterSet):
    customer = TenantIdFilter(field_name="customer_id", model=Customer)
    invoice = TenantIdFilter(field_name="invoice_id", model=Invoice)
    status = django_filters.ChoiceFilter(choices=CreditNote.Status.choices)

    class Meta:
        model = CreditNote
        fields = []


class CreditNoteViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet
):
    serializer_class = CreditNoteOutput
    filterset_class = CreditNoteFilter
    capability = "bill"

    def get_queryset(self):
        return CreditNote.objects.prefetch_related("lines__credit_note")

    @extend_schema(request=CreditNoteInput, responses={201: CreditNoteOutput})
    def create(self, request):
        data = CreditNoteInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        credit_note = invoices.credit_note_create(
            actor=self.actor,
            lines=[invoices.LineInput(**line) for line in values.pop("lines")],
            **values,
        )
        return Response(self._output(credit_note), status=status.HTTP_201_CREATED)

    @extend_schema(request=VoidInput, responses=CreditNoteOutput)
    @action(detail=True, methods=["post"])
    def void(self, request, pk=None):
        credit_note = self.get_object()
        data = VoidInput(data=request.data)
        data.is_valid(raise_exception=True)
        credit_note = invoices.credit_note_void(
            credit_note=credit_note,
            actor=self.actor,
            void_date=data.validated_data.get("void_date"),
        )
        return Response(self._output(credit_note))

    def _output(self, credit_note):
        return CreditNoteOutput(self.get_queryset().get(pk=credit_note.pk)).data


# --- ledger and balances ------------------------------------------------------------


class LedgerEntryOutput(ModelSerializer):
    amount = MoneyField()

    class Meta:
        model = LedgerEntry
        fields = [
            "id", "customer", "invoice", "kind", "amount", "currency",
            "posting_date", "document_type", "document_id", "payment_id",
            "reverses", "memo", "created_at",
        ]  # fmt: skip


class LedgerEntryFilter(django_filters.FilterSet):
    customer = TenantIdFilter(field_name="customer_id", model=Customer)
    invoice = TenantIdFilter(field_name="invoice_id", model=Invoice)
    kind = ChoicesFilter(choices=LedgerEntry.Kind.choices)
    currency = django_filters.CharFilter()
    posting_date_after = django_filters.DateFilter("posting_date", lookup_expr="gte")
    posting_date_before = django_filters.DateFilter("posting_date", lookup_expr="lte")

    class Meta:
        model = LedgerEntry
        fields = []


class LedgerEntryViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet
):
    """The append-only receivables ledger (debits > 0, credits < 0)."""

    serializer_class = LedgerEntryOutput
    filterset_class = LedgerEntryFilter

    def get_queryset(self):
        return LedgerEntry.objects.all()


class BalanceOutput(Serializer):
    currency = serializers.CharField()
    balance = MoneyField(help_text="Open invoices minus unapplied cash.")
    invoices_open = MoneyField()
    unapplied_cash = MoneyField()
    overdue = MoneyField(help_text="Open on invoices already past due on as_of.")


class CustomerBalanceOutput(Serializer):
    customer = serializers.IntegerField()
    as_of = serializers.DateField()
    balances = BalanceOutput(many=True)


class CustomerBalanceView(TenantAPIView):
    """A customer's balance per currency at the end of ``as_of`` (default today).

    Summed from the ledger's posting dates, so any past date shows what the account
    stood at on that date.
    """

    @extend_schema(
        parameters=[
            AsOfInput,
            OpenApiParameter("id", int, OpenApiParameter.PATH),
        ],
        responses=CustomerBalanceOutput,
    )
    def get(self, request, pk):
        customer = get_object_or_404(Customer.objects, pk=pk)
        query = AsOfInput(data=request.query_params)
        query.is_valid(raise_exception=True)
        as_of = query.validated_data.get("as_of") or request.organization.today()
        balances = customer_balances(customer=customer, as_of=as_of)
        body = {"customer": customer.pk, "as_of": as_of, "balances": balances}
        return Response(CustomerBalanceOutput(body).data)


# --- customer portal settings ---------------------------------------------------------


class PortalSettingsSerializer(ModelSerializer):
    class Meta:
        model = PortalSettings
        fields = list(portal.SETTINGS_FIELDS)
        # The service's ranges, so the schema states them too.
        extra_kwargs = {
            name: {"min_value": low, "max_value": high}
            for name, (low, high) in portal.LIMITS.items()
        }


class PortalSettingsView(TenantAPIView):
    """What the customer portal offers and how long its links live (README
    "Customer portal")."""

    capabilities = {"PATCH": "administer"}

    @extend_schema(responses=PortalSettingsSerializer)
    def get(self, request):
        return Response(PortalSettingsSerializer(portal.portal_settings()).data)

    @extend_schema(request=PortalSettingsSerializer, responses=PortalSettingsSerializer)
    def patch(self, request):
        data = PortalSettingsSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        saved = portal.portal_settings_update(actor=self.actor, **data.validated_data)
        return Response(PortalSettingsSerializer(saved).data)
