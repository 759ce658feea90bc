"""REST API for customers, contacts, payment terms, items, orders and fulfillments."""

import django_filters
from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from o2c.api.base import TenantViewSet
from o2c.api.fields import (
    DateField,
    MemberField,
    MoneyField,
    PlainDecimalField,
    QuantityField,
    TenantRelatedField,
)
from o2c.api.filters import ChoicesFilter, MemberIdFilter, TenantIdFilter
from o2c.api.serializers import ModelSerializer, Serializer
from orders.models import (
    Contact,
    Customer,
    Fulfillment,
    FulfillmentLine,
    Item,
    PaymentTerm,
    SalesOrder,
    SalesOrderLine,
)
from orders.services import master, orders

# --- payment terms ---------------------------------------------------------------


class PaymentTermSerializer(ModelSerializer):
    instalments = serializers.JSONField(
        required=False,
        help_text='For kind "instalments": [{"percent": "50", "days": 30}, ...]',
    )

    discount_percent = PlainDecimalField(
        max_digits=5,
        decimal_places=2,
        required=False,
        help_text='Early-payment discount in percent ("2.00" for 2/10 net 30); '
        '"0.00" for none.',
    )
    discount_days = serializers.IntegerField(
        required=False,
        min_value=0,
        help_text="Days after the invoice date the discount holds.",
    )

    class Meta:
        model = PaymentTerm
        fields = [
            "id", "name", "kind", "days", "instalments", "discount_percent",
            "discount_days",
        ]  # fmt: skip
        # The model's defaults, which the service does not assume.
        extra_kwargs = {
            "kind": {"default": PaymentTerm.Kind.NET},
            "days": {"default": 30},
        }


class PaymentTermUpdateInput(PaymentTermSerializer):
    class Meta(PaymentTermSerializer.Meta):
        # A partial update changes what it names and nothing else.
        extra_kwargs = {}


class PaymentTermViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet
):
    serializer_class = PaymentTermSerializer
    capability = "manage_customers"

    def get_queryset(self):
        return PaymentTerm.objects.all()

    @extend_schema(
        request=PaymentTermSerializer, responses={201: PaymentTermSerializer}
    )
    def create(self, request):
        data = PaymentTermSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        term = master.payment_term_create(actor=self.actor, **data.validated_data)
        return Response(
            PaymentTermSerializer(term).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        request=PaymentTermUpdateInput,
        responses=PaymentTermSerializer,
        description="Change a payment term. Issued invoices keep their due dates "
        "and discount as issued; invoices issued afterwards use the new terms.",
    )
    def partial_update(self, request, pk=None):
        term = self.get_object()
        data = PaymentTermUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        term = master.payment_term_update(
            term=term, actor=self.actor, **data.validated_data
        )
        return Response(PaymentTermSerializer(term).data)


# --- customers ---------------------------------------------------------------------


class CustomerInput(Serializer):
    number = serializers.CharField(max_length=40, required=False)
    name = serializers.CharField(max_length=200)
    legal_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    phone = serializers.CharField(max_length=50, required=False, allow_blank=True)
    address = serializers.CharField(required=False, allow_blank=True)
    country = serializers.CharField(max_length=2, required=False, allow_blank=True)
    tax_id = serializers.CharField(max_length=50, required=False, allow_blank=True)
    language = serializers.CharField(max_length=10, required=False)
    currency = serializers.CharField(max_length=3, required=False)
    payment_term = TenantRelatedField(PaymentTerm)
    credit_limit = MoneyField(required=False, allow_null=True)
    collector = MemberField(required=False, allow_null=True)
    segment = serializers.CharField(max_length=50, required=False, allow_blank=True)
    risk_class = serializers.ChoiceField(Customer.Risk.choices, required=False)
    do_not_contact = serializers.BooleanField(required=False)
    external_id = serializers.CharField(
        max_length=100, required=False, allow_blank=True
    )


class ContactSerializer(ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "name", "email", "phone", "role", "is_primary"]


class CustomerOutput(ModelSerializer):
    credit_limit = MoneyField(allow_null=True)
    contacts = ContactSerializer(many=True, read_only=True)

    class Meta:
        model = Customer
        fields = [
            "id", "number", "name", "legal_name", "email", "phone", "address",
            "country", "tax_id", "language", "currency", "payment_term",
            "credit_limit", "on_credit_hold", "collector", "segment", "risk_class",
            "do_not_contact", "external_id", "contacts", "created_at",
        ]  # fmt: skip


class CreditHoldInput(Serializer):
    on_hold = serializers.BooleanField()
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class CustomerFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", label="Name or number")
    collector = MemberIdFilter(field_name="collector_id")
    segment = django_filters.CharFilter()
    currency = django_filters.CharFilter()
    on_credit_hold = django_filters.BooleanFilter()
    risk_class = django_filters.ChoiceFilter(choices=Customer.Risk.choices)
    number = django_filters.CharFilter()

    class Meta:
        model = Customer
        fields = []

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(number__iexact=value))


class CustomerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    serializer_class = CustomerOutput
    filterset_class = CustomerFilter
    capability = "manage_customers"

    def get_queryset(self):
        return Customer.objects.prefetch_related("contacts")

    @extend_schema(request=CustomerInput, responses={201: CustomerOutput})
    def create(self, request):
        data = CustomerInput(data=request.data)
        data.is_valid(raise_exception=True)
        customer = master.customer_create(actor=self.actor, **data.validated_data)
        return Response(CustomerOutput(customer).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=CustomerInput, responses=CustomerOutput)
    def partial_update(self, request, pk=None):
        customer = self.get_object()
        data = CustomerInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        customer = master.customer_update(
            customer=customer, actor=self.actor, **data.validated_data
        )
        return Response(CustomerOutput(customer).data)

    @extend_schema(request=CreditHoldInput, responses=CustomerOutput)
    @action(detail=True, methods=["post"], url_path="credit-hold")
    def credit_hold(self, request, pk=None):
        customer = self.get_object()
        data = CreditHoldInput(data=request.data)
        data.is_valid(raise_exception=True)
        customer = master.customer_set_credit_hold(
            customer=customer, actor=self.actor, **data.validated_data
        )
        return Response(CustomerOutput(customer).data)

    @extend_schema(methods=["GET"], responses=ContactSerializer(many=True))
    @extend_schema(
        methods=["POST"], request=ContactSerializer, responses={201: ContactSerializer}
    )
    @action(detail=True, methods=["get", "post"])
    def contacts(self, request, pk=None):
        customer = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(customer.contacts.all())
            return self.get_paginated_response(ContactSerializer(page, many=True).data)
        data = ContactSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        contact = master.contact_create(
            customer=customer, actor=self.actor, **data.validated_data
        )
        return Response(ContactSerializer(contact).data, status=status.HTTP_201_CREATED)


# --- items -------------------------------------------------------------------------


class ItemSerializer(ModelSerializer):
    unit_price = MoneyField()

    class Meta:
        model = Item
        fields = ["id", "sku", "name", "unit_price", "currency", "tax_rate", "active"]


class ItemViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    serializer_class = ItemSerializer
    capability = "manage_customers"
    filterset_fields = ["active", "currency", "sku"]

    def get_queryset(self):
        return Item.objects.all()

    @extend_schema(request=ItemSerializer, responses={201: ItemSerializer})
    def create(self, request):
        data = ItemSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = master.item_create(actor=self.actor, **data.validated_data)
        return Response(ItemSerializer(item).data, status=status.HTTP_201_CREATED)


# --- sales orders ------------------------------------------------------------------


class OrderLineInput(Serializer):
    item = TenantRelatedField(Item, required=False, allow_null=True)
    description = serializers.CharField(max_length=300, required=False, default="")
    quantity = QuantityField()
    unit_price = MoneyField(required=False, allow_null=True)
    tax_rate = PlainDecimalField(
        max_digits=6, decimal_places=3, required=False, allow_null=True
    )


class OrderInput(Serializer):
    customer = TenantRelatedField(Customer)
    order_date = DateField()
    currency = serializers.CharField(max_length=3, required=False)
    customer_reference = serializers.CharField(
        max_length=100, required=False, default=""
    )
    notes = serializers.CharField(required=False, default="", allow_blank=True)
    lines = OrderLineInput(many=True, allow_empty=False)


class OrderLineOutput(ModelSerializer):
    unit_price = MoneyField(currency_source="order.currency")

    class Meta:
        model = SalesOrderLine
        fields = [
            "id", "position", "item", "description", "quantity", "unit_price",
            "tax_rate", "quantity_fulfilled", "quantity_invoiced",
        ]  # fmt: skip


class OrderOutput(ModelSerializer):
    lines = OrderLineOutput(many=True, read_only=True)

    class Meta:
        model = SalesOrder
        fields = [
            "id", "number", "customer", "currency", "order_date", "status",
            "customer_reference", "notes", "credit_check_overridden", "lines",
            "created_at",
        ]  # fmt: skip


class ConfirmInput(Serializer):
    override_credit_check = serializers.BooleanField(default=False)


class ReasonInput(Serializer):
    reason = serializers.CharField(required=False, default="", allow_blank=True)


class OrderFilter(django_filters.FilterSet):
    customer = TenantIdFilter(field_name="customer_id", model=Customer)
    status = ChoicesFilter(choices=SalesOrder.Status.choices)
    order_date_after = django_filters.DateFilter("order_date", lookup_expr="gte")
    order_date_before = django_filters.DateFilter("order_date", lookup_expr="lte")

    class Meta:
        model = SalesOrder
        fields = []


class SalesOrderViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet
):
    serializer_class = OrderOutput
    filterset_class = OrderFilter
    capability = "sell"

    def get_queryset(self):
        return SalesOrder.objects.prefetch_related("lines__order")

    @extend_schema(request=OrderInput, responses={201: OrderOutput})
    def create(self, request):
        data = OrderInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        order = orders.order_create(
            actor=self.actor,
            lines=[orders.OrderLineInput(**line) for line in values.pop("lines")],
            **values,
        )
        return Response(self._output(order), status=status.HTTP_201_CREATED)

    @extend_schema(request=ConfirmInput, responses=OrderOutput)
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        order = self.get_object()
        data = ConfirmInput(data=request.data)
        data.is_valid(raise_exception=True)
        order = orders.order_confirm(
            order=order, actor=self.actor, **data.validated_data
        )
        return Response(self._output(order))

    @extend_schema(request=ReasonInput, responses=OrderOutput)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        order = self.get_object()
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        order = orders.order_cancel(
            order=order, actor=self.actor, **data.validated_data
        )
        return Response(self._output(order))

    def _output(self, order):
        return OrderOutput(self.get_queryset().get(pk=order.pk)).data


# --- fulfillments ------------------------------------------------------------------


class FulfillmentLineInput(Serializer):
    order_line = TenantRelatedField(SalesOrderLine)
    quantity = QuantityField()


class FulfillmentInput(Serializer):
    order = TenantRelatedField(SalesOrder)
    shipped_date = DateField()
    carrier = serializers.CharField(max_length=100, required=False, default="")
    tracking_number = serializers.CharField(max_length=100, required=False, default="")
    lines = FulfillmentLineInput(many=True, allow_empty=False)


class FulfillmentLineOutput(ModelSerializer):
    class Meta:
        model = FulfillmentLine
        fields = ["id", "order_line", "quantity"]


class FulfillmentOutput(ModelSerializer):
    lines = FulfillmentLineOutput(many=True, read_only=True)

    class Meta:
        model = Fulfillment
        fields = [
            "id", "number", "order", "status", "shipped_date", "carrier",
            "tracking_number", "lines", "created_at",
        ]  # fmt: skip


class FulfillmentViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet
):
    serializer_class = FulfillmentOutput
    capability = "sell"
    filterset_fields = ["status"]

    def get_queryset(self):
        return Fulfillment.objects.prefetch_related("lines")

    @extend_schema(request=FulfillmentInput, responses={201: FulfillmentOutput})
    def create(self, request):
        data = FulfillmentInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        fulfillment = orders.fulfillment_create(
            actor=self.actor,
            lines=[
                (line["order_line"], line["quantity"]) for line in values.pop("lines")
            ],
            **values,
        )
        return Response(self._output(fulfillment), status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=FulfillmentOutput)
    @action(detail=True, methods=["post"])
    def deliver(self, request, pk=None):
        fulfillment = orders.fulfillment_deliver(
            fulfillment=self.get_object(), actor=self.actor
        )
        return Response(self._output(fulfillment))

    @extend_schema(request=None, responses=FulfillmentOutput)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        fulfillment = orders.fulfillment_cancel(
            fulfillment=self.get_object(), actor=self.actor
        )
        return Response(self._output(fulfillment))

    def _output(self, fulfillment):
        return FulfillmentOutput(self.get_queryset().get(pk=fulfillment.pk)).data
