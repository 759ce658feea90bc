"""One JSON error shape for every API failure.

    {"error": {"code": "validation_error",
               "message": "lines[0].quantity: Must be greater than zero.",
               "fields": {"lines[0].quantity": ["Must be greater than zero."]},
               "request_id": "0f6c…"}}

Nested serializer errors are flattened to dotted paths with list indexes, so a
client can point at the exact input at fault. An id that is not in the caller's
organization, wherever it was given, answers 404 ``not_found`` with its path.
"""

import re
from contextlib import contextmanager

from django.conf import settings
from django.core.exceptions import (
    ObjectDoesNotExist,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings

from o2c.errors import DomainError
from o2c.requestid import current_request_id

NOT_FOUND = "not_found"


class ReplayResponse(exceptions.APIException):
    """Carries a stored response out of ``initial()`` to be replayed as-is."""

    def __init__(self, response: Response):
        super().__init__()
        self.response = response


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    body = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    if request_id := current_request_id():
        body["request_id"] = request_id
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
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            error_body("too_large", f"The body is over {limit:,} bytes."),
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, SuspiciousOperation):
        # Too many fields or files: Django answers 400 too, but in HTML.
        return Response(
            error_body("bad_request", str(exc)), status.HTTP_400_BAD_REQUEST
        )
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: let Django log it and answer 500
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten(exc.detail)
        code, status_code = "validation_error", exc.status_code
        missing = flatten_codes(exc.get_codes(), NOT_FOUND)
        if missing:
            # Another organization's id must not be told apart from a missing one,
            # whatever else is wrong with the request.
            code, status_code = NOT_FOUND, status.HTTP_404_NOT_FOUND
            fields = {path: fields[path] for path in fields if path in missing}
        first_field, first_messages = next(iter(fields.items()), ("", ["Invalid."]))
        message = first_messages[0]
        if first_field and first_field != "non_field_errors":
            message = f"{first_field}: {message}"
        return Response(error_body(code, message, fields), status_code, headers=headers)
    detail = exc.detail
    message = str(detail) if not isinstance(detail, dict | list) else str(exc)
    code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
    return Response(error_body(code, message), exc.status_code, headers=headers)


def flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into ``{"lines[0].quantity": [...]}``.

    DRF reports a list's items by integer keys ("lines.0") and errors about a
    nested object as a whole under ``non_field_errors``; both are named by the
    input's own path instead ("lines[0]", "lines").
    """
    if isinstance(detail, dict):
        result = {}
        for key, value in detail.items():
            if isinstance(key, int):
                path = f"{prefix}[{key}]"
            elif key == api_settings.NON_FIELD_ERRORS_KEY and prefix:
                path = prefix
            else:
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


def flatten_codes(codes, code: str) -> set[str]:
    """The paths (as :func:`flatten` names them) that carry error ``code``."""
    return {path for path, found in flatten(codes).items() if code in found}


@contextmanager
def input_named(service_name: str, api_name: str):
    """Report a service's errors about ``service_name`` under the API's input name.

    A view whose input calls a service argument differently (``order_lines`` for
    ``lines``) wraps the call, so the error names what the client sent.
    """
    try:
        yield
    except DomainError as exc:
        if exc.field and re.match(rf"{re.escape(service_name)}(?![\w])", exc.field):
            exc.field = api_name + exc.field[len(service_name) :]
        raise
