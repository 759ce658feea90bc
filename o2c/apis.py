"""Kernel API: the caller's organization, its members, its API keys, FX rates and
events."""

import django_filters
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from o2c import fx, webhooks
from o2c.api.base import TenantAPIView, TenantViewSet
from o2c.api.fields import DateField, PlainDecimalField
from o2c.api.filters import MomentFilter
from o2c.api.pagination import CursorPagination
from o2c.api.serializers import ModelSerializer, Serializer
from o2c.errors import DomainError
from o2c.keys import api_key_create, api_key_revoke
from o2c.models import (
    Event,
    FxRate,
    Membership,
    Organization,
    OrganizationAPIKey,
    Role,
)
from o2c.money import validate_currency
from o2c.tenancy import current_organization


class OrganizationOutput(ModelSerializer):
    class Meta:
        model = Organization
        fields = [
            "id", "name", "slug", "base_currency", "timezone", "locale",
            "date_format", "fiscal_year_start_month", "legal_name", "address",
            "tax_id", "email", "phone", "payment_instructions",
        ]  # fmt: skip


class OrganizationView(TenantAPIView):
    """The organization the caller acts for."""

    @extend_schema(responses=OrganizationOutput)
    def get(self, request):
        return Response(OrganizationOutput(current_organization()).data)


class MembershipOutput(ModelSerializer):
    # A member is known to the API by the user's id: the id that ``collector``,
    # ``owner`` and the ``collector`` filters take.
    id = serializers.IntegerField(
        source="user_id",
        read_only=True,
        help_text="The member's user id, as `collector` and `owner` take it.",
    )
    email = serializers.EmailField(source="user.email")
    username = serializers.CharField(source="user.username")

    class Meta:
        model = Membership
        fields = ["id", "username", "email", "role", "created_at"]


class MembershipViewSet(mixins.ListModelMixin, TenantViewSet):
    serializer_class = MembershipOutput

    def get_queryset(self):
        return Membership.objects.filter(
            organization=current_organization()
        ).select_related("user")


class APIKeyInput(Serializer):
    name = serializers.CharField(max_length=50)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.FINANCE)
    expiry_date = serializers.DateTimeField(
        required=False, allow_null=True, default=None
    )

    def validate_expiry_date(self, value):
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("An expiry must be in the future.")
        return value


class APIKeyOutput(ModelSerializer):
    # The row's own id embeds the key's hash, which never leaves the server.
    id = serializers.CharField(source="prefix", read_only=True)

    class Meta:
        model = OrganizationAPIKey
        fields = [
            "id", "name", "prefix", "role", "created", "expiry_date", "revoked",
            "last_used_at",
        ]  # fmt: skip


class APIKeyCreatedOutput(APIKeyOutput):
    key = serializers.CharField(help_text="Shown once; only its hash is stored.")

    class Meta(APIKeyOutput.Meta):
        fields = [*APIKeyOutput.Meta.fields, "key"]


class APIKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Integration keys. Admins only; the key itself is returned once, at creation."""

    serializer_class = APIKeyOutput
    lookup_field = "prefix"
    lookup_url_kwarg = "pk"
    # Anything up to the slash, so an old-style "prefix.hash" id answers a JSON 404.
    lookup_value_regex = "[^/]+"
    capabilities = {"list": "administer", "retrieve": "administer"}
    capability = "administer"

    def get_queryset(self):
        return OrganizationAPIKey.objects.filter(organization=current_organization())

    @extend_schema(request=APIKeyInput, responses={201: APIKeyCreatedOutput})
    def create(self, request):
        data = APIKeyInput(data=request.data)
        data.is_valid(raise_exception=True)
        api_key, key = api_key_create(actor=self.actor, **data.validated_data)
        body = APIKeyOutput(api_key).data | {"key": key}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=APIKeyOutput)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        api_key = api_key_revoke(api_key=self.get_object(), actor=self.actor)
        return Response(APIKeyOutput(api_key).data)


# --- FX rates -------------------------------------------------------------------


class FxRateOutput(ModelSerializer):
    to_currency = serializers.SerializerMethodField(
        help_text="Always the organization's base currency."
    )
    pair = serializers.SerializerMethodField(help_text='"USD/EUR"')
    rate = PlainDecimalField(max_digits=20, decimal_places=10)

    class Meta:
        model = FxRate
        fields = ["id", "pair", "currency", "to_currency", "date", "rate"]

    def get_to_currency(self, fx_rate) -> str:
        return current_organization().base_currency

    def get_pair(self, fx_rate) -> str:
        return f"{fx_rate.currency}/{current_organization().base_currency}"


class FxRateInput(Serializer):
    currency = serializers.CharField(
        max_length=3, help_text="The currency converted from (ISO 4217)."
    )
    to_currency = serializers.CharField(
        max_length=3,
        required=False,
        help_text="Optional; must be the base currency, the only one rates are "
        "stored against.",
    )
    date = DateField()
    rate = serializers.CharField(
        max_length=40,
        help_text='Base-currency units per unit of `currency`, e.g. "0.9213"; '
        "up to 10 decimals.",
    )


def _currency_filter(queryset, name, value):
    try:
        currency = validate_currency(value)
    except DomainError as error:
        raise DomainError(error.code, error.message, field="currency") from None
    return queryset.filter(currency=currency)


class FxRateFilter(django_filters.FilterSet):
    currency = django_filters.CharFilter(
        method=_currency_filter, label="Currency converted from, e.g. USD"
    )
    date_from = django_filters.DateFilter(field_name="date", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="date", lookup_expr="lte")

    class Meta:
        model = FxRate
        fields = ["currency", "date_from", "date_to"]


class FxRateViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Rates reports convert with: one per currency and day, against the base
    currency. A second rate for the same day is refused (409); change it on the
    FX rates page, where the change is confirmed and audited."""

    serializer_class = FxRateOutput
    filterset_class = FxRateFilter
    capability = "manage_fx_rates"

    def get_queryset(self):
        return FxRate.objects.all()

    @extend_schema(request=FxRateInput, responses={201: FxRateOutput})
    def create(self, request):
        data = FxRateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        rate_input = fx.fx_rate_input(
            currency=values["currency"],
            date_value=values["date"],
            rate=values["rate"],
            to_currency=values.get("to_currency"),
        )
        fx_rate = fx.fx_rate_create(rate_input=rate_input, actor=self.actor)
        return Response(FxRateOutput(fx_rate).data, status=status.HTTP_201_CREATED)


# --- events --------------------------------------------------------------------------


class EventOutput(ModelSerializer):
    object = serializers.CharField(
        source="object_type", help_text="What the event is about: `invoice`, …"
    )
    data = serializers.SerializerMethodField(
        help_text='`{"object": …}`: the object as the REST API showed it when '
        "the event happened."
    )

    class Meta:
        model = Event
        fields = [
            "id", "type", "created", "api_version", "object", "object_id", "data",
        ]  # fmt: skip

    def get_data(self, event) -> dict:
        return {"object": event.data}


class EventFilter(django_filters.FilterSet):
    type = django_filters.MultipleChoiceFilter(
        choices=sorted((name, name) for name in webhooks.EVENTS),
        help_text="Event type; repeat for several.",
    )
    object = django_filters.CharFilter(
        field_name="object_type", help_text="Object type, e.g. `invoice`."
    )
    object_id = django_filters.CharFilter(help_text="Id of the object.")
    created_after = MomentFilter(field_name="created", lookup_expr="gte")
    created_before = MomentFilter(field_name="created", lookup_expr="lt")

    class Meta:
        model = Event
        fields = []


class EventPagination(CursorPagination):
    # Newest first; ids are random, so the id only breaks ties.
    ordering = ("-created", "-id")


class EventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Events of the last 30 days, newest first: what webhooks deliver, to fetch
    again or to catch up on after an outage."""

    serializer_class = EventOutput
    filterset_class = EventFilter
    pagination_class = EventPagination
    capability = "view"

    def get_queryset(self):
        return Event.objects.filter(created__gte=timezone.now() - webhooks.RETENTION)
