"""OpenAPI schema plumbing for drf-spectacular."""

from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes

from o2c.models import Organization
from o2c.tenancy import tenant_context


class TenantSchemaGenerator(SchemaGenerator):
    """Introspect views inside a placeholder organization that owns no rows.

    Views build their querysets from tenant-scoped managers, which refuse to run
    without an organization; an unsaved one (id 0) lets drf-spectacular read the
    models without touching any tenant's data.
    """

    def get_schema(self, *args, **kwargs):
        with tenant_context(Organization(pk=0, name="schema", slug="schema")):
            return super().get_schema(*args, **kwargs)


class APIKeyScheme(OpenApiAuthenticationExtension):
    target_class = "o2c.api.auth.OrganizationAPIKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'Send "Api-Key <key>". Keys are per organization and role.',
        }


class TenantRelatedFieldSchema(OpenApiSerializerFieldExtension):
    target_class = "o2c.api.fields.TenantRelatedField"

    def map_serializer_field(self, auto_schema, direction):
        return build_basic_type(OpenApiTypes.INT)


class CollectorFieldSchema(TenantRelatedFieldSchema):
    target_class = "orders.apis.CollectorField"
