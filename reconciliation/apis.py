"""REST API for payments, allocations and write-offs."""

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from invoicing.models import Invoice
from o2c.api.base import TenantViewSet
from o2c.api.fields import DateField, MoneyField, TenantRelatedField
from o2c.api.filters import TenantIdFilter
from o2c.api.serializers import ModelSerializer, Serializer
from orders.models import Customer
from reconciliation.models import Allocation, Payment, WriteOff
from reconciliation.services import payments


class AllocationInput(Serializer):
    invoice = TenantRelatedField(Invoice)
    amount = MoneyField()
    allocation_date = DateField(
        required=False,
        help_text="Posting date; default the later of payment and invoice dates.",
    )


class PaymentInput(Serializer):
    customer = TenantRelatedField(Customer)
    amount = MoneyField()
    currency = serializers.CharField(max_length=3)
    received_date = DateField()
    method = serializers.ChoiceField(
        Payment.Method.choices, default=Payment.Method.BANK_TRANSFER
    )
    reference = serializers.CharField(max_length=200, required=False, default="")
    payer_name = serializers.CharField(max_length=200, required=False, default="")
    external_id = serializers.CharField(
        max_length=100,
        required=False,
        help_text="Bank transaction id or the payer system's id; unique.",
    )
    allocations = AllocationInput(
        many=True,
        required=False,
        default=list,
        help_text="Invoices to apply the cash to; the rest stays unapplied.",
    )


class AllocationOutput(ModelSerializer):
    amount = MoneyField(currency_source="payment.currency")

    class Meta:
        model = Allocation
        fields = [
            "id", "payment", "invoice", "amount", "allocation_date", "status",
            "reversal_date", "created_at",
        ]  # fmt: skip


class PaymentOutput(ModelSerializer):
    amount = MoneyField()
    unapplied_amount = MoneyField()
    allocations = AllocationOutput(many=True, read_only=True)

    class Meta:
        model = Payment
        fields = [
            "id", "number", "customer", "status", "method", "amount", "currency",
            "received_date", "unapplied_amount", "reference", "payer_name",
            "external_id", "reversal_date", "reversal_reason", "allocations",
            "created_at",
        ]  # fmt: skip


class ReversalInput(Serializer):
    reversal_date = DateField(
        required=False, help_text="Posting date of the reversal; default today."
    )
    reason = serializers.CharField(required=False, default="", allow_blank=True)


class PaymentFilter(django_filters.FilterSet):
    customer = TenantIdFilter(field_name="customer_id", model=Customer)
    status = django_filters.ChoiceFilter(choices=Payment.Status.choices)
    currency = django_filters.CharFilter()
    method = django_filters.ChoiceFilter(choices=Payment.Method.choices)
    received_date_after = django_filters.DateFilter("received_date", lookup_expr="gte")
    received_date_before = django_filters.DateFilter("received_date", lookup_expr="lte")
    amount_min = django_filters.NumberFilter("amount", lookup_expr="gte")
    amount_max = django_filters.NumberFilter("amount", lookup_expr="lte")
    unapplied = django_filters.BooleanFilter(
        method="filter_unapplied", label="Has unapplied cash"
    )
    external_id = django_filters.CharFilter()

    class Meta:
        model = Payment
        fields = []

    def filter_unapplied(self, queryset, name, value):
        if value:
            return queryset.filter(unapplied_amount__gt=0)
        return queryset.filter(unapplied_amount=0)


class PaymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    serializer_class = PaymentOutput
    filterset_class = PaymentFilter
    capability = "receive_cash"

    def get_queryset(self):
        return Payment.objects.prefetch_related("allocations__payment")

    @extend_schema(request=PaymentInput, responses={201: PaymentOutput})
    def create(self, request):
        data = PaymentInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        allocations = [
            payments.AllocationInput(**allocation)
            for allocation in values.pop("allocations")
        ]
        payment = payments.payment_create(
            actor=self.actor, allocations=allocations, **values
        )
        return Response(self._output(payment), status=status.HTTP_201_CREATED)

    @extend_schema(request=AllocationInput, responses={201: AllocationOutput})
    @action(detail=True, methods=["post"])
    def allocate(self, request, pk=None):
        """Apply unapplied cash of this payment to an invoice."""
        payment = self.get_object()
        data = AllocationInput(data=request.data)
        data.is_valid(raise_exception=True)
        allocation = payments.allocation_create(
            payment=payment, actor=self.actor, **data.validated_data
        )
        return Response(
            AllocationOutput(allocation).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=ReversalInput, responses=PaymentOutput)
    @action(detail=True, methods=["post"])
    def reverse(self, request, pk=None):
        """Undo the payment (bounced, duplicate): its allocations, then the cash."""
        payment = self.get_object()
        data = ReversalInput(data=request.data)
        data.is_valid(raise_exception=True)
        payment = payments.payment_reverse(
            payment=payment, actor=self.actor, **data.validated_data
        )
        return Response(self._output(payment))

    def _output(self, payment):
        return PaymentOutput(self.get_queryset().get(pk=payment.pk)).data


class AllocationFilter(django_filters.FilterSet):
    payment = TenantIdFilter(field_name="payment_id", model=Payment)
    invoice = TenantIdFilter(field_name="invoice_id", model=Invoice)
    status = django_filters.ChoiceFilter(choices=Allocation.Status.choices)

    class Meta:
        model = Allocation
        fields = []


class AllocationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet
):
    serializer_class = AllocationOutput
    filterset_class = AllocationFilter
    capability = "receive_cash"

    def get_queryset(self):
        return Allocation.objects.select_related("payment")

    @extend_schema(request=ReversalInput, responses=AllocationOutput)
    @action(detail=True, methods=["post"])
    def reverse(self, request, pk=None):
        """Take the cash off the invoice; it returns to the customer's account."""
        allocation = self.get_object()
        data = ReversalInput(data=request.data)
        data.is_valid(raise_exception=True)
        allocation = payments.allocation_reverse(
            allocation=allocation,
            actor=self.actor,
            reversal_date=data.validated_data.get("reversal_date"),
        )
        return Response(AllocationOutput(allocation).data)


class WriteOffInput(Serializer):
    invoice = TenantRelatedField(Invoice)
    amount = MoneyField()
    write_off_date = DateField()
    reason = serializers.CharField(max_length=300)


class WriteOffOutput(ModelSerializer):
    amount = MoneyField()

    class Meta:
        model = WriteOff
        fields = [
            "id", "invoice", "amount", "currency", "write_off_date", "reason",
            "status", "reversal_date", "created_at",
        ]  # fmt: skip


class WriteOffViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    serializer_class = WriteOffOutput
    capability = "write_off"
    filterset_fields = ["status", "currency"]

    def get_queryset(self):
        return WriteOff.objects.all()

    @extend_schema(request=WriteOffInput, responses={201: WriteOffOutput})
    def create(self, request):
        data = WriteOffInput(data=request.data)
        data.is_valid(raise_exception=True)
        write_off = payments.write_off_create(actor=self.actor, **data.validated_data)
        return Response(WriteOffOutput(write_off).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ReversalInput, responses=WriteOffOutput)
    @action(detail=True, methods=["post"])
    def reverse(self, request, pk=None):
        write_off = self.get_object()
        data = ReversalInput(data=request.data)
        data.is_valid(raise_exception=True)
        write_off = payments.write_off_reverse(
            write_off=write_off,
            actor=self.actor,
            reversal_date=data.validated_data.get("reversal_date"),
        )
        return Response(WriteOffOutput(write_off).data)
