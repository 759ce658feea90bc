"""Kernel pages: health check, home, organization switcher, and the two helpers
every HTML view of the stages uses (:func:`organization_required`,
:func:`render_htmx`).

Pages are composed across the stage layers with htmx: a page belongs to the app
of its object and a higher stage contributes its panel through ``hx-get`` on a URL
name (the home page's receivables summary comes from ``invoicing``), so no lower
layer imports a higher one.
"""

from functools import wraps
from io import BytesIO

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import (
    FileResponse,
    HttpResponseBadRequest,
    HttpResponseServerError,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.template import loader
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_POST

from o2c.api.errors import error_body
from o2c.celery import app as celery_app
from o2c.middleware import SESSION_KEY
from o2c.models import Membership
from o2c.roles import role_can
from o2c.services import Actor


def healthz(request):
    """Database and broker reachability, for load balancers and compose."""
    checks = {"database": _check_database(), "broker": _check_broker()}
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", **checks},
        status=200 if healthy else 503,
    )


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # any failure means "not reachable"
        return f"error: {error.__class__.__name__}"
    return "ok"


def _check_broker() -> str:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as error:  # any failure means "not reachable"
        return f"error: {error.__class__.__name__}"
    return "ok"


def organization_required(view):
    """Signed in and working in an organization, else the no-organization page.

    The tenant middleware has bound ``request.organization``; every tenant query
    of the view runs inside it.
    """

    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if request.organization is None:
            return render(request, "o2c/no_organization.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def capability_required(capability: str):
    """Signed in, in an organization, and with a role that has ``capability``
    (``o2c.roles``); otherwise the 403 page in the app's layout."""

    def decorator(view):
        @wraps(view)
        @organization_required
        def wrapper(request, *args, **kwargs):
            if not role_can(request.membership.role, capability):
                raise PermissionDenied(gettext("Your role does not allow this."))
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def actor_of(request) -> Actor:
    """The signed-in member of a request, as services record who acted."""
    return Actor.for_member(request.membership)


def pdf_attachment(pdf: bytes, filename: str) -> FileResponse:
    """A rendered PDF as a download named ``filename``."""
    return FileResponse(
        BytesIO(pdf),
        as_attachment=True,
        filename=filename,
        content_type="application/pdf",
    )


def is_htmx(request) -> bool:
    """An htmx swap (not a history restore, which needs the whole page)."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def render_htmx(request, template: str, partial: str, context: dict):
    """The whole page, or only ``partial`` when htmx asks to swap it in."""
    response = render(request, partial if is_htmx(request) else template, context)
    # The same URL answers with a page or a fragment: caches must keep both apart.
    patch_vary_headers(response, ["HX-Request"])
    return response


DIRECTIONS = [("asc", gettext_lazy("Ascending")), ("desc", gettext_lazy("Descending"))]


def sort_ordering(keys: list[str], direction: str, *, grouped_by=()) -> list[str]:
    """Keys in ``direction``; ``grouped_by`` keys (currency) stay ascending so that
    amounts of different currencies are never interleaved."""
    return [
        key if key in grouped_by or direction == "asc" else f"-{key}" for key in keys
    ]


def bound_filters(form_class, request):
    """The filter form over the query string; invalid fields are left out and shown
    next to their input instead of failing the page."""
    form = form_class(request.GET)
    form.is_valid()
    return form, form.cleaned_data


def is_filtered(data: dict) -> bool:
    """Whether a filter narrows the list (an empty list then says "no match")."""
    return any(value for key, value in data.items() if key not in ("sort", "dir"))


@login_required
@require_POST
def switch_organization(request):
    organization_id = request.POST.get("organization")
    if not (organization_id or "").isdigit():
        return HttpResponseBadRequest("Choose an organization.")
    if not Membership.objects.filter(
        user=request.user, organization_id=int(organization_id)
    ).exists():
        return HttpResponseBadRequest("You are not a member of that organization.")
    request.session[SESSION_KEY] = int(organization_id)
    return redirect("home")


ERROR_TITLES = {
    400: gettext_lazy("The request could not be read"),
    403: gettext_lazy("Your role does not allow this"),
    404: gettext_lazy("Page not found"),
    500: gettext_lazy("Something went wrong on our side"),
}


API_ERRORS = {
    400: ("bad_request", "Bad request."),
    403: ("permission_denied", "Your role does not allow this."),
    404: ("not_found", "Not found."),
    500: ("server_error", "Internal server error."),
}


def _error_page(request, status: int, message: str = ""):
    """The error in the app's layout for a signed-in member, a bare page otherwise;
    under /api/ the API's JSON error shape. Never Django's debug page."""
    if request.path.startswith("/api/"):
        code, default = API_ERRORS[status]
        return JsonResponse(error_body(code, message or default), status=status)
    signed_in = getattr(request, "user", None) is not None and (
        request.user.is_authenticated
        and getattr(request, "organization", None) is not None
    )
    context = {
        "status": status,
        "title": ERROR_TITLES[status],
        "message": message,
        "layout": "base.html" if signed_in else "errors/minimal.html",
    }
    template = f"errors/{status}.html"
    try:
        return render(request, template, context, status=status)
    except Exception:  # the layout itself failed (database down): a bare page
        if status != 500:
            raise
        body = loader.get_template(template).render(
            context | {"layout": "errors/minimal.html"}
        )
        return HttpResponseServerError(body)


def _exception_message(exception) -> str:
    """The reason a view gave (``PermissionDenied("…")``), never a traceback."""
    if exception is None or not exception.args:
        return ""
    text = str(exception.args[0])
    return text if isinstance(exception.args[0], str) and len(text) < 300 else ""


def bad_request(request, exception=None):
    return _error_page(request, 400, _exception_message(exception))


def permission_denied(request, exception=None):
    return _error_page(request, 403, _exception_message(exception))


def not_found(request, exception=None):
    # Http404's text is written for developers ("No Invoice matches the given
    # query."): the page says it in the user's words.
    return _error_page(request, 404)


def server_error(request):
    return _error_page(request, 500)
