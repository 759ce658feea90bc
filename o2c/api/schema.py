"""OpenAPI schema plumbing for drf-spectacular."""

from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers

from o2c.api.fields import ID_SCHEMA
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


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "example": "validation_error"},
                "message": {
                    "type": "string",
                    "example": "lines[0].quantity: Must be greater than zero.",
                },
                "request_id": {
                    "type": "string",
                    "description": "As in the X-Request-ID header; quote it.",
                },
                "fields": {
                    "type": "object",
                    "description": "Messages per input, by its path.",
                    "additionalProperties": {
                        "type": "array",
                        "items": {"type": "string"},
                    },
                },
            },
        }
    },
}
ERRORS = {
    "400": "Bad input; `fields` names each input at fault.",
    "401": "No valid credentials.",
    "403": "The caller's role does not allow this.",
    "404": "Not found in the caller's organization (anywhere in the request).",
    "409": "The object's state does not allow this, or a duplicate.",
    "413": "The body is too large.",
    "415": "The body is not JSON.",
    "422": "The Idempotency-Key was used with another request.",
    "429": "Over the rate limit of this API key or user; retry after `Retry-After` s.",
}
ERRORS_BY_METHOD = {
    "GET": ("400", "401", "403", "404", "429"),
    "DELETE": ("401", "403", "404", "409", "429"),
}
WRITE_ERRORS = ("400", "401", "403", "404", "409", "413", "415", "422", "429")


class TenantAutoSchema(AutoSchema):
    """Documents the one error shape, and paginates reads only: a POST answering
    a list (a dunning run and the days it caught up) returns the plain list."""

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and not getattr(
            serializer, "allow_unknown_fields", True
        ):
            # StrictFieldsMixin answers 400 "Unknown field." for any other key.
            schema["additionalProperties"] = False
        return schema

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction != "request":
            return schema
        if (
            schema.get("type") == "array"
            and getattr(field, "allow_empty", True) is False
        ):
            schema["minItems"] = 1  # "This list may not be empty."
        if isinstance(field, serializers.RegexField) and "pattern" not in schema:
            # drf-spectacular states a RegexField's pattern on bodies, not on
            # query parameters read by a serializer (?end_month=)
            schema["pattern"] = next(
                validator.regex.pattern
                for validator in field.validators
                if hasattr(validator, "regex")
            )
        if (
            isinstance(field, serializers.CharField)
            and schema.get("type") == "string"
            and "pattern" not in schema
        ):
            schema["pattern"] = NO_NUL  # "Null characters are not allowed."
        return schema

    def _get_paginator(self):
        return super()._get_paginator() if self.method == "GET" else None

    def get_filter_backends(self):
        # A viewset's list filters belong to its list, not to a list nested under
        # one object (a customer's contacts): the filter backend applies them so.
        if getattr(self.view, "action", "list") != "list":
            return []
        return super().get_filter_backends()

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        error = ResolvedComponent(
            name="Error",
            type=ResolvedComponent.SCHEMA,
            object="Error",
            schema=ERROR_SCHEMA,
        )
        self.registry.register_on_missing(error)
        for code in ERRORS_BY_METHOD.get(self.method, WRITE_ERRORS):
            responses.setdefault(
                code,
                {
                    "description": ERRORS[code],
                    "content": {"application/json": {"schema": error.ref}},
                },
            )
        return responses


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
        return dict(ID_SCHEMA)


class MemberFieldSchema(TenantRelatedFieldSchema):
    target_class = "o2c.api.fields.MemberField"


class PlainDecimalFieldSchema(OpenApiSerializerFieldExtension):
    """The exact decimal strings the server reads: digits, at most one point with
    digits on at least one side, no sign where the minimum is zero or more."""

    target_class = "o2c.api.fields.PlainDecimalField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(
            self.target, direction, bypass_extensions=True
        )
        field = self.target
        if direction == "request":
            whole = _repeat(
                field.max_digits and field.max_digits - field.decimal_places
            )
            places = field.decimal_places
            some, fraction = _repeat(places, least=0), _repeat(places)
            sign = "" if field.min_value is not None and field.min_value >= 0 else "-?"
            schema["pattern"] = (
                rf"^{sign}(?:[0-9]{whole}(?:\.[0-9]{some})?|\.[0-9]{fraction})$"
            )
        return schema


def _repeat(most: int | None, least: int = 1) -> str:
    return f"{{{least},{most}}}" if most is not None else ("+" if least else "*")


# Pagination's own parameter: an empty cursor is the first page.
_BLANK_ALLOWED = {"cursor"}


def query_parameters_not_blank(result, generator, request, public):
    """Document what the blank-parameter check enforces: a query parameter given
    must hold something besides spaces (``?currency=`` answers 400, see
    ``o2c.api.serializers.is_blank``). A free-text parameter says so with a
    pattern (and no NUL, which Django refuses); a model's blank choice is no
    choice; an optional text's "or empty" alternative does not apply."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            for parameter in operation.get("parameters", ()):
                if parameter.get("in") != "query":
                    continue
                if parameter["name"] in _BLANK_ALLOWED:
                    continue
                holder, key = parameter, "schema"
                if holder[key].get("type") == "array":
                    holder, key = holder[key], "items"
                _not_blank(holder, key)
    return result


NO_NUL = r"^[^\x00]*$"
NOT_BLANK = r"^[^\x00]*[^\s\x00][^\x00]*$"


def _not_blank(holder: dict, key: str) -> None:
    schema = holder.get(key, {})
    alternatives = schema.get("oneOf", ())
    if alternatives and all(one.get("type") == "string" for one in alternatives):
        # an optional text "or empty" (allow_blank): empty is refused in a query
        schema = holder[key] = {"type": "string"}
    if "" in schema.get("enum", ()):
        # a model's blank choice ("no outcome") cannot be asked for
        schema["enum"] = [value for value in schema["enum"] if value]
    if (
        schema.get("type") == "string"
        and not {"enum", "format", "$ref"} & set(schema)
        and schema.get("pattern", NO_NUL) == NO_NUL
    ):
        schema["pattern"] = NOT_BLANK
    elif schema.get("type") == "number":
        # django-filter's NumberFilter reads numbers up to 1e50
        schema.setdefault("maximum", 1e50)


class BusinessDateFieldSchema(OpenApiSerializerFieldExtension):
    """A business date: the years 1900 to 2999 (``o2c.api.fields.DateField``)."""

    target_class = "o2c.api.fields.DateField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(
            self.target, direction, bypass_extensions=True
        )
        if direction == "request":
            schema["pattern"] = r"^(?:19|2[0-9])[0-9]{2}-"
        return schema
