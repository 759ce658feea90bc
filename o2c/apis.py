"""Kernel API: the caller's organization, its members and its API keys."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from o2c.api.base import TenantAPIView, TenantViewSet
from o2c.models import Membership, Organization, OrganizationAPIKey, Role
from o2c.services import audit_record
from o2c.tenancy import current_organization


class OrganizationOutput(serializers.ModelSerializer):
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


class MembershipOutput(serializers.ModelSerializer):
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


class APIKeyInput(serializers.Serializer):
    name = serializers.CharField(max_length=50)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.FINANCE)
    expiry_date = serializers.DateTimeField(required=False, allow_null=True)

    def validate_expiry_date(self, value):
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("An expiry must be in the future.")
        return value


class APIKeyOutput(serializers.ModelSerializer):
    # The row's own id embeds the key's hash, which never leaves the server.
    id = serializers.CharField(source="prefix", read_only=True)

    class Meta:
        model = OrganizationAPIKey
        fields = ["id", "name", "prefix", "role", "created", "expiry_date", "revoked"]


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
        user = request.user if getattr(request.user, "pk", None) else None
        api_key, key = OrganizationAPIKey.objects.create_key(
            organization=current_organization(), created_by=user, **data.validated_data
        )
        audit_record(
            actor=self.actor, obj=api_key, action="api_key_created",
            data={"name": api_key.name, "role": api_key.role},
        )  # fmt: skip
        body = APIKeyOutput(api_key).data | {"key": key}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=APIKeyOutput)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        api_key = self.get_object()
        if not api_key.revoked:
            api_key.revoked = True
            api_key.save(update_fields=["revoked"])
            audit_record(actor=self.actor, obj=api_key, action="api_key_revoked")
        return Response(APIKeyOutput(api_key).data)
