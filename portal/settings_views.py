"""The organization's side of the portal: what it offers and how long links live
(Settings → Customer portal, admins)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from invoicing.portal import SETTINGS_FIELDS, portal_settings, portal_settings_update
from o2c.errors import DomainError
from o2c.views import actor_of, capability_required

SWITCHES = ("offer_pay", "offer_dispute", "offer_promise", "offer_remittance")


@capability_required("administer")
def portal_settings_page(request):
    row = portal_settings()
    data = {name: getattr(row, name) for name in SETTINGS_FIELDS}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        data = {name: name in request.POST for name in SWITCHES}
        data["promise_window_days"] = request.POST.get("promise_window_days", "")
        data["link_lifetime_days"] = request.POST.get("link_lifetime_days", "")
        try:
            portal_settings_update(actor=actor_of(request), **data)
        except DomainError as error:
            errors[error.field or "non_field_errors"] = error.message
            status = 422
        else:
            messages.success(request, _("Settings saved."))
            return redirect("portal-settings")
    return render(
        request,
        "portal/settings.html",
        {"data": data, "errors": errors},
        status=status,
    )
