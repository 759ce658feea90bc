"""A request id on every response, error body and log line.

An integrator quoting ``X-Request-ID`` lets support find the request's log lines.
A caller may send its own id (a short token of letters, digits, ``.``, ``_``,
``-``), so one id follows a call through its systems and ours; anything else is
replaced by a new random one.
"""

import logging
import re
import uuid
from contextvars import ContextVar

HEADER = "X-Request-ID"
_META = "HTTP_X_REQUEST_ID"
_ACCEPTED = re.compile(r"[A-Za-z0-9._-]{8,64}", re.ASCII)
_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    return _current.get()


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.META.get(_META, "")
        request.request_id = given if _ACCEPTED.fullmatch(given) else uuid.uuid4().hex
        token = _current.set(request.request_id)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response[HEADER] = request.request_id
        return response


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every log record ("-" outside a request)."""

    def filter(self, record):
        # Django logs a request's 4xx/5xx after the middleware has returned, with
        # the request attached to the record.
        request = getattr(record, "request", None)
        record.request_id = (
            getattr(request, "request_id", None) or _current.get() or "-"
        )
        return True
