"""One JSON error shape for every API failure.

    {"error": {"code": "validation_error",
               "message": "lines[0].quantity: Must be greater than zero.",
               "fields": {"lines[0].quantity": ["Must be greater than zero."]}}}

Nested serializer errors are flattened to dotted paths with list indexes, so a
client can point at the exact input at fault.
"""

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from o2c.errors import DomainError


class ReplayResponse(exceptions.APIException):
    """Carries a stored response out of ``initial()`` to be replayed as-is."""

    def __init__(self, response: Response):
        super().__init__()
        self.response = response


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    body = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def exception_handler(exc, context):
    if isinstance(exc, ReplayResponse):
        return exc.response
    if isinstance(exc, DomainError):
        fields = {exc.field: [exc.message]} if exc.field else None
        return Response(error_body(exc.code, exc.message, fields), exc.status_code)
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        return Response(
            error_body("not_found", "Not found."), status.HTTP_404_NOT_FOUND
        )
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: let Django log it and answer 500
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten(exc.detail)
        first_field, first_messages = next(iter(fields.items()), ("", ["Invalid."]))
        message = first_messages[0]
        if first_field and first_field != "non_field_errors":
            message = f"{first_field}: {message}"
        return Response(
            error_body("validation_error", message, fields),
            exc.status_code,
            headers=headers,
        )
    detail = exc.detail
    message = str(detail) if not isinstance(detail, dict | list) else str(exc)
    code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
    return Response(error_body(code, message), exc.status_code, headers=headers)


def flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into ``{"lines[0].quantity": [...]}``."""
    if isinstance(detail, dict):
        result = {}
        for key, value in detail.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            result.update(flatten(value, path))
        return result
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return {prefix or "non_field_errors": [str(item) for item in detail]}
        result = {}
        for index, item in enumerate(detail):
            if item:
                result.update(flatten(item, f"{prefix}[{index}]"))
        return result
    return {prefix or "non_field_errors": [str(detail)]}
