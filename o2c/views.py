"""Kernel pages: health check, home, organization switcher."""

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
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


@login_required
def home(request):
    if request.organization is None:
        return render(request, "o2c/no_organization.html", status=403)
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
