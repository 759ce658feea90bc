"""Settings pages: organization, members, API keys, FX rates, and setting the
password of an invitation.

Thin like every view: they read the form, call a service of ``o2c.fx``,
``o2c.members``, ``o2c.organization`` or ``o2c.keys`` and render. A refused input
answers 422 with the page again, the error under the field it names (the API's
``field: message`` shape) and what was typed kept. A role without the capability
gets the 403 page.
"""

from __future__ import annotations

from datetime import datetime, time
from smtplib import SMTPException
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.paginator import Paginator
from django.db import transaction
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.dateformat import format as format_date
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from o2c import audit_log, fx, keys, members, security
from o2c import organization as organization_settings
from o2c.dates import parse_org_date
from o2c.errors import DomainError
from o2c.models import FxRate, Membership, Organization, OrganizationAPIKey, Role
from o2c.money import validate_currency
from o2c.roles import role_can
from o2c.services import Actor
from o2c.views import actor_of, capability_required, organization_required

PAGE_SIZE = 50


def _refused(error: DomainError) -> dict:
    """The error as the page shows it: under its field, else above the form."""
    field = error.field or "non_field_errors"
    return {field: error.message}


# --- FX rates -----------------------------------------------------------------------


def _fx_filters(request) -> tuple[dict, dict, str]:
    """The list's filters as typed, the query they make, and an error if any."""
    typed = {
        key: request.GET.get(key, "").strip()
        for key in ("currency", "date_from", "date_to")
    }
    query, error = {}, ""
    try:
        if typed["currency"]:
            query["currency"] = validate_currency(typed["currency"])
        if typed["date_from"]:
            query["date__gte"] = parse_org_date(
                typed["date_from"], field="date_from", label="From"
            )
        if typed["date_to"]:
            query["date__lte"] = parse_org_date(
                typed["date_to"], field="date_to", label="To"
            )
    except DomainError as exc:
        error = exc.message
    return typed, query, error


def _fx_page(request, *, status=200, **extra):
    typed, query, filter_error = _fx_filters(request)
    rates = FxRate.objects.filter(**query).order_by("-date", "currency")
    page = Paginator(rates, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "filters": typed,
        "filter_error": filter_error,
        "page": page,
        "base": request.organization.base_currency,
        "can_change": role_can(request.membership.role, "manage_fx_rates"),
        "today": request.organization.today(),
        # A report's "add the rate" link prefills the form, not the list's filter.
        "data": {
            "currency": request.GET.get("new_currency", ""),
            "date": request.GET.get("new_date")
            or request.organization.today().isoformat(),
            "next": request.GET.get("next", ""),
        },
        "errors": {},
        "query": urlencode({k: v for k, v in typed.items() if v}),
    }
    context.update(extra)
    if filter_error and status == 200:
        status = 400
    return render(request, "o2c/fx_rates.html", context, status=status)


@organization_required
@require_GET
def fx_rates_page(request):
    """Every stored rate, newest first, filtered by currency and dates."""
    return _fx_page(request)


@capability_required("manage_fx_rates")
@require_POST
def fx_rate_add(request):
    """Add a rate; a day that has one asks to confirm the replacement."""
    data = request.POST
    replace = data.get("replace") == "1"
    try:
        rate_input = fx.fx_rate_input(
            currency=data.get("currency"),
            date_value=parse_org_date(data.get("date"), field="date")
            or data.get("date"),
            rate=data.get("rate"),
        )
        with transaction.atomic():
            fx_rate = fx.fx_rate_create(
                rate_input=rate_input, actor=actor_of(request), replace=replace
            )
    except DomainError as error:
        existing = None
        if error.code == "duplicate":
            existing = FxRate.objects.filter(
                currency=rate_input.currency, date=rate_input.date
            ).first()
        return _fx_page(
            request,
            status=409 if existing else 422,
            data=data,
            errors=_refused(error),
            confirm_replace=existing,
        )
    messages.success(
        request,
        (
            _("1 %(currency)s = %(rate)s %(base)s on %(day)s replaced.")
            if replace
            else _("1 %(currency)s = %(rate)s %(base)s on %(day)s saved.")
        )
        % {
            "currency": fx_rate.currency,
            "rate": fx.rate_text(fx_rate.rate),
            "base": request.organization.base_currency,
            "day": _day(request, fx_rate.date),
        },
    )
    return redirect(_next_url(request, reverse("fx-rates")))


@capability_required("manage_fx_rates")
def fx_rate_edit(request, pk: int):
    fx_rate = get_object_or_404(FxRate.objects, pk=pk)
    context = {
        "fx_rate": fx_rate,
        "base": request.organization.base_currency,
        "data": {"rate": fx.rate_text(fx_rate.rate)},
        "errors": {},
    }
    if request.method == "POST":
        try:
            fx.fx_rate_change(
                fx_rate=fx_rate,
                rate=fx.parse_rate(request.POST.get("rate")),
                actor=actor_of(request),
            )
        except DomainError as error:
            context |= {"data": request.POST, "errors": _refused(error)}
            return render(request, "o2c/fx_rate_edit.html", context, status=422)
        messages.success(
            request, _("%(currency)s rate changed.") % {"currency": fx_rate.currency}
        )
        return redirect("fx-rates")
    return render(request, "o2c/fx_rate_edit.html", context)


@capability_required("manage_fx_rates")
@require_POST
def fx_rate_delete(request, pk: int):
    fx_rate = get_object_or_404(FxRate.objects, pk=pk)
    fx.fx_rate_delete(fx_rate=fx_rate, actor=actor_of(request))
    messages.success(
        request,
        _("The %(currency)s rate of %(day)s was deleted.")
        % {"currency": fx_rate.currency, "day": _day(request, fx_rate.date)},
    )
    return redirect("fx-rates")


@capability_required("manage_fx_rates")
@require_POST
def fx_rates_upload(request):
    upload = request.FILES.get("file")
    replace = bool(request.POST.get("replace"))
    try:
        if upload is None:
            raise DomainError("required", _("Choose a CSV file."), field="file")
        if upload.size > 5 * 1024 * 1024:
            raise DomainError("too_large", _("The file is over 5 MB."), field="file")
        result = fx.fx_rates_import(
            content=upload.read(), actor=actor_of(request), replace=replace
        )
    except fx.FxImportError as error:
        return _fx_page(
            request, status=422, upload_errors=error.lines, upload_replace=replace
        )
    except DomainError as error:
        return _fx_page(
            request, status=422, upload_errors=[error.message], upload_replace=replace
        )
    messages.success(
        request,
        _(
            "Imported %(created)s new rate(s), replaced %(replaced)s, "
            "%(unchanged)s already stored."
        )
        % {
            "created": result.created,
            "replaced": result.replaced,
            "unchanged": result.unchanged,
        },
    )
    return redirect("fx-rates")


def _day(request, day) -> str:
    """A date in the organization's format, for messages."""
    return format_date(day, request.organization.date_format)


def _next_url(request, default: str) -> str:
    """Back to the report that asked for the rate, if it is one of ours."""
    target = request.POST.get("next", "")
    if target.startswith("/") and not target.startswith("//"):
        return target
    return default


# --- organization settings ----------------------------------------------------------


def _settings_context(request, organization, **extra) -> dict:
    data = {
        name: getattr(organization, name)
        for name in organization_settings.SETTINGS_FIELDS
    }
    data |= extra.pop("data", {})
    locales = list(organization_settings.LOCALES)
    if data["locale"] not in dict(locales):
        locales.append((data["locale"], data["locale"]))
    return {
        "org": organization,
        "data": data,
        "errors": {},
        "date_formats": Organization.DateFormat.choices,
        "locales": locales,
        "timezones": sorted(organization_settings._timezones()),
        "logo_max_kb": organization_settings.LOGO_MAX_BYTES // 1024,
    } | extra


@capability_required("administer")
def organization_settings_page(request):
    organization = Organization.objects.get(pk=request.organization.pk)
    if request.method == "POST":
        values = {
            name: request.POST.get(name, "")
            for name in organization_settings.SETTINGS_FIELDS
        }
        try:
            organization_settings.organization_update(
                organization=organization, actor=actor_of(request), **values
            )
        except DomainError as error:
            context = _settings_context(
                request, organization, data=values, errors=_refused(error)
            )
            return render(request, "o2c/organization.html", context, status=422)
        messages.success(request, _("Settings saved."))
        return redirect("organization-settings")
    return render(
        request, "o2c/organization.html", _settings_context(request, organization)
    )


@capability_required("administer")
@require_POST
def organization_logo_upload(request):
    organization = Organization.objects.get(pk=request.organization.pk)
    actor = actor_of(request)
    try:
        if request.POST.get("remove"):
            organization_settings.organization_logo_remove(
                organization=organization, actor=actor
            )
            messages.success(request, _("Logo removed."))
            return redirect("organization-settings")
        upload = request.FILES.get("logo")
        if upload is None:
            raise DomainError("required", _("Choose an image file."), field="logo")
        limit = organization_settings.LOGO_MAX_BYTES
        if upload.size > limit:
            raise DomainError(
                "too_large",
                _("The logo is %(size)s KB; at most %(limit)s KB.")
                % {"size": f"{upload.size // 1024:,}", "limit": limit // 1024},
                field="logo",
            )
        organization_settings.organization_logo_set(
            organization=organization, content=upload.read(), actor=actor
        )
    except DomainError as error:
        context = _settings_context(request, organization, errors=_refused(error))
        return render(request, "o2c/organization.html", context, status=422)
    messages.success(request, _("Logo saved; new documents print it."))
    return redirect("organization-settings")


@organization_required
@require_GET
def organization_logo(request):
    """The logo, for members only, with headers that stop an SVG from running
    anything or a browser from reading the file as another type."""
    if not request.organization.logo:
        raise Http404("No logo.")
    return logo_response(request.organization)


def logo_response(organization) -> FileResponse:
    """The organization's logo file, with headers that stop an SVG from running
    anything or a browser from reading the file as another type (the staff
    pages and the customer portal alike)."""
    extension = organization.logo.name.rsplit(".", 1)[-1].lower()
    response = FileResponse(
        organization.logo.open("rb"),
        content_type=organization_settings.LOGO_TYPES.get(
            extension, "application/octet-stream"
        ),
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    )
    response["Cache-Control"] = "private, max-age=300"
    return response


# --- members ------------------------------------------------------------------------


def _members_page(request, *, status=200, member_error=(None, ""), **extra):
    memberships = (
        Membership.objects.filter(organization=request.organization)
        .select_related("user")
        .order_by("user__username")
    )
    refused_pk, refused_message = member_error
    locked = security.locked_out_names(
        name for m in memberships for name in security.sign_in_names(m.user)
    )
    rows = [
        (
            m,
            members.needs_password(m),
            refused_message if m.pk == refused_pk else "",
            bool(locked & security.sign_in_names(m.user)),
        )
        for m in memberships
    ]
    context = {
        "rows": rows,
        "roles": Role.choices,
        "data": {"role": Role.COLLECTOR},
        "errors": {},
        "admins": sum(1 for m in memberships if m.role == Role.ADMIN),
    } | extra
    return render(request, "o2c/members.html", context, status=status)


def _member(request, pk: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user"),
        pk=pk,
        organization=request.organization,
    )


@capability_required("administer")
@require_GET
def members_page(request):
    return _members_page(request)


@capability_required("administer")
@require_POST
def member_invite(request):
    actor = actor_of(request)
    try:
        membership = members.member_invite(
            organization=request.organization,
            email=request.POST.get("email", ""),
            role=request.POST.get("role", ""),
            actor=actor,
        )
    except DomainError as error:
        return _members_page(
            request, status=422, data=request.POST, errors=_refused(error)
        )
    _send_invitation(request, membership, actor)
    return redirect("members")


@capability_required("administer")
@require_POST
def member_resend(request, pk: int):
    _send_invitation(request, _member(request, pk), actor_of(request))
    return redirect("members")


def _send_invitation(request, membership: Membership, actor: Actor) -> None:
    try:
        address = members.invitation_send(
            membership=membership,
            site_url=request.build_absolute_uri("/"),
            actor=actor,
        )
    except (SMTPException, OSError):
        messages.warning(
            request,
            _(
                "%(email)s is a member, but the email could not be sent. "
                "Use “Send again” once mail works."
            )
            % {"email": membership.user.email},
        )
        return
    messages.success(
        request, _("Invitation sent to %(address)s.") % {"address": address}
    )


@capability_required("administer")
@require_POST
def member_role(request, pk: int):
    membership = _member(request, pk)
    try:
        members.member_role_change(
            membership=membership,
            role=request.POST.get("role", ""),
            actor=actor_of(request),
        )
    except DomainError as error:
        return _members_page(request, status=409, member_error=(pk, error.message))
    messages.success(
        request,
        _("%(member)s's role changed.") % {"member": membership.user.get_username()},
    )
    return redirect("members")


@capability_required("administer")
@require_POST
def member_remove(request, pk: int):
    membership = _member(request, pk)
    try:
        members.member_remove(membership=membership, actor=actor_of(request))
    except DomainError as error:
        return _members_page(request, status=409, member_error=(pk, error.message))
    messages.success(
        request,
        _("%(member)s was removed.") % {"member": membership.user.get_username()},
    )
    if membership.user_id == request.user.pk:
        return redirect("home")
    return redirect("members")


@capability_required("administer")
@require_POST
def member_unlock(request, pk: int):
    membership = _member(request, pk)
    security.member_unlock(membership=membership, actor=actor_of(request))
    messages.success(
        request, f"{membership.user.get_username()} can sign in again (unlocked)."
    )
    return redirect("members")


class SetPasswordView(auth_views.PasswordResetConfirmView):
    """The invitation's link: choose a password, then sign in and land on the
    page of one's role (a collector's My day)."""

    template_name = "o2c/set_password.html"
    success_url = reverse_lazy("login")

    def get_success_url(self):
        membership = (
            Membership.objects.filter(user=self.user).order_by("created_at").first()
        )
        landing = reverse("home")
        if membership is not None and membership.role == Role.COLLECTOR:
            landing = reverse("collecting:my_day")
        messages.success(
            self.request, _("Your password is set. Sign in with your email and it.")
        )
        return f"{reverse('login')}?{urlencode({'next': landing})}"


# --- API keys -----------------------------------------------------------------------


def _api_keys_page(request, *, status=200, **extra):
    context = {
        "api_keys": OrganizationAPIKey.objects.filter(
            organization=request.organization
        ).order_by("revoked", "-created"),
        "roles": Role.choices,
        "data": {"role": Role.FINANCE},
        "errors": {},
        "today": request.organization.today(),
    } | extra
    return render(request, "o2c/api_keys.html", context, status=status)


@capability_required("administer")
@require_GET
def api_keys_page(request):
    return _api_keys_page(request)


@capability_required("administer")
@require_POST
def api_key_create(request):
    data = request.POST
    try:
        expiry = None
        if data.get("expiry_date"):
            day = parse_org_date(
                data["expiry_date"], field="expiry_date", label="Expires after"
            )
            # A key expires at the end of the chosen day, in the organization's time.
            expiry = datetime.combine(day, time.max, tzinfo=request.organization.tzinfo)
        api_key, key = keys.api_key_create(
            name=data.get("name", ""),
            role=data.get("role", ""),
            expiry_date=expiry,
            actor=actor_of(request),
        )
    except DomainError as error:
        return _api_keys_page(request, status=422, data=data, errors=_refused(error))
    # Rendered, not redirected: the key must not travel through a session or URL.
    response = _api_keys_page(request, new_key=key, new_api_key=api_key)
    response["Cache-Control"] = "no-store"
    return response


@capability_required("administer")
@require_POST
def api_key_revoke(request, prefix: str):
    api_key = get_object_or_404(
        OrganizationAPIKey.objects.filter(organization=request.organization),
        prefix=prefix,
    )
    keys.api_key_revoke(api_key=api_key, actor=actor_of(request))
    messages.success(
        request,
        _("Key %(name)s (%(prefix)s) revoked.")
        % {"name": api_key.name, "prefix": api_key.prefix},
    )
    return redirect("api-keys")


@capability_required("administer")
@require_GET
def audit_log_page(request):
    """Who changed what and when: the audit trail, newest first, filtered."""
    query = request.GET
    errors = {}
    dates = {}
    for name in ("date_from", "date_to"):
        try:
            dates[name] = parse_org_date(query.get(name), field=name)
        except DomainError as error:
            errors[name] = error.message
    actor = query.get("actor", "")
    before = query.get("before", "")
    filters = audit_log.AuditFilters(
        actor=int(actor) if actor.isascii() and actor.isdigit() else None,
        object_type=query.get("object_type", "").strip(),
        action=query.get("action", "").strip(),
        date_from=dates.get("date_from"),
        date_to=dates.get("date_to"),
        before=int(before) if before.isascii() and before.isdigit() else None,
    )
    events, next_before = ([], None) if errors else audit_log.audit_events(filters)
    rows = [(event, audit_log.field_changes(event)) for event in events]
    params = {key: value for key, value in query.items() if key != "before" and value}
    next_url = (
        f"?{urlencode({**params, 'before': next_before})}" if next_before else None
    )
    people = (
        Membership.objects.filter(organization=request.organization)
        .select_related("user")
        .order_by("user__username")
    )
    return render(
        request,
        "o2c/audit_log.html",
        {
            "rows": rows,
            "data": query,
            "errors": errors,
            "people": people,
            "next_url": next_url,
        },
        status=400 if errors else 200,
    )
