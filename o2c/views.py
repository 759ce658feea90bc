"""Kernel pages: health check, home, organization switcher, and the two helpers
every HTML view of the stages uses (:func:`organization_required`,
:func:`render_htmx`).

Pages are composed across the stage layers with htmx: a page belongs to the app
of its object and a higher stage contributes its panel through ``hx-get`` on a URL
name (the home page's receivables summary comes from ``invoicing``), so no lower
layer imports a higher one.
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views import defaults
from django.views.decorators.http import require_POST

from o2c.celery import app as celery_app
from o2c.middleware import SESSION_KEY
from o2c.models import Membership


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


DIRECTIONS = [("asc", "Ascending"), ("desc", "Descending")]


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


@organization_required
def home(request):
    return render(request, "o2c/home.html")


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


def not_found(request, exception=None):
    """404 in the API's JSON error shape under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": {"code": "not_found", "message": "Not found."}}, status=404
        )
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": {"code": "server_error", "message": "Internal server error."}},
            status=500,
        )
    return defaults.server_error(request)
