"""Pages of the reports: dashboard, aging (with drill-down), metrics, customer
history and statement, exports. Thin: they read the query string into a form,
call a selector or service and render."""

from __future__ import annotations

import io
from datetime import date, timedelta

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseForbidden,
    QueryDict,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.dateformat import format as format_date
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from o2c.dates import OrgDateField
from o2c.errors import DomainError
from o2c.models import Job, Membership, Role
from o2c.replica import report_reads
from o2c.roles import role_can
from o2c.services import Actor
from o2c.tenancy import current_organization
from o2c.views import organization_required, render_htmx
from orders.models import Customer
from reports import charts as charts_
from reports import exports, search, services
from reports.documents import statement_pdf
from reports.models import AgingBucketSet
from reports.selectors.aging import (
    GROUPINGS,
    SORTS,
    aging_invoices,
    aging_report,
    default_boundaries,
    make_buckets,
    parse_boundaries,
)
from reports.selectors.common import add_months, exact
from reports.selectors.dashboard import (
    FORECAST_WEEKS,
    cash_collected,
    collections_today,
    dashboard,
    forecast_panel,
)
from reports.selectors.forecast import forecast_invoices
from reports.selectors.history import (
    customer_invoice_history,
    monthly_activity,
    payment_behaviour,
    payment_trend,
    quarterly_behaviour,
    statement,
    statement_currencies,
)
from reports.selectors.metrics import DEFINITIONS
from reports.selectors.prediction import forecast_accuracy, prediction_accuracy
from reports.selectors.snapshot import (
    NO_KEY,
    current_snapshot,
    metrics_report,
    needs_refresh,
    scope_labels,
)
from reports.tasks import refresh_metrics

PAGE_SIZE = 50


def _actor(request) -> Actor:
    return Actor(
        label=request.user.get_username(),
        role=request.membership.role,
        user=request.user,
    )


def _collectors(organization) -> list[tuple[int, str]]:
    members = Membership.objects.filter(organization=organization).select_related(
        "user"
    )
    return sorted(
        (m.user_id, m.user.get_full_name() or m.user.get_username()) for m in members
    )


def _segments() -> list[str]:
    return list(
        Customer.objects.exclude(segment="")
        .order_by("segment")
        .values_list("segment", flat=True)
        .distinct()
    )


# --- dashboard --------------------------------------------------------------------


@organization_required
@require_GET
@report_reads()
def dashboard_page(request):
    """Today's receivables and the month-end metrics; stale metrics are rebuilt in
    the background (in the request when Celery runs eagerly)."""
    if needs_refresh(current_snapshot()):
        refresh_metrics.delay(request.organization.pk)
    board = dashboard()
    first = board.aging.totals[0] if board.aging.totals else None
    currency = "" if board.aging.base_currency or first is None else first.currency
    bucket_links = [
        _drill_url(bucket=bucket.index, currency=currency)
        for bucket in board.aging.buckets
    ]
    charts = {"aging": charts_.aging_chart(board.aging, bucket_links)}
    if board.metrics:
        links = _month_links(board.metrics[0], in_base=not board.fx_error)
        charts["dso"] = charts_.dso_chart(board.metrics[0], links)
    return render(
        request,
        "reports/dashboard.html",
        {
            "board": board,
            "charts": charts,
            "bucket_rows": list(
                zip(
                    board.aging.buckets,
                    bucket_links,
                    first.buckets if first else [0] * len(bucket_links),
                    strict=True,
                )
            ),
            "overdue_url": _drill_url(bucket="overdue", currency=currency),
            "latest": board.metrics[0].months[-1] if board.metrics else None,
            "previous": board.metrics[0].months[-2]
            if board.metrics and len(board.metrics[0].months) > 1
            else None,
            "definitions": DEFINITIONS,
            "cash": cash_collected(board.today),
        },
    )


def _trim_idle_months(series_list) -> int:
    """Leave out the months before the first with any receivables or sales (a
    young company's window starts before its first invoice); returns how many."""
    if not series_list:
        return 0

    def first_active(series) -> int:
        for index, month in enumerate(series.months):
            if month.receivables or month.credit_sales or month.opening_receivables:
                return index
        return len(series.months) - 1  # keep the last month at least

    idle = min(first_active(series) for series in series_list)
    for series in series_list:
        series.months = series.months[idle:]
    return idle


def _month_links(series, *, in_base: bool) -> list[str]:
    """Each month's aging as of its last day: the receivables behind the figure."""
    url = reverse("aging")
    today = current_organization().today()
    scope = "&in_base=on" if in_base else f"&currency={series.currency}"
    return [
        f"{url}?as_of={min(month.month_end, today).isoformat()}{scope}"
        for month in series.months
    ]


@organization_required
@require_GET
@report_reads()
def dashboard_forecast_panel(request):
    forecasts, fx_error = forecast_panel()
    chart = None
    if forecasts:
        url = reverse("forecast-invoices")
        links = [f"{url}?week=past"] + [
            f"{url}?week={week}" for week in range(FORECAST_WEEKS)
        ]
        chart = charts_.forecast_chart(forecasts[0], links)
    return render(
        request,
        "reports/_forecast_panel.html",
        {"forecasts": forecasts, "fx_error": fx_error, "chart": chart},
    )


@organization_required
@require_GET
@report_reads()
def dashboard_collections_panel(request):
    return render(
        request,
        "reports/_collections_panel.html",
        {"collections": collections_today(request.organization.today())},
    )


def _drill_url(**params) -> str:
    """The aging drill-down page for ``params`` (empty values left out)."""
    query = QueryDict(mutable=True)
    for key, value in params.items():
        if value not in (None, ""):
            query[key] = value
    url = reverse("aging-invoices")
    return f"{url}?{query.urlencode()}" if query else url


# --- aging ------------------------------------------------------------------------


class AgingForm(forms.Form):
    as_of = OrgDateField(required=False)
    buckets = forms.CharField(required=False, max_length=60)
    group_by = forms.ChoiceField(
        required=False, choices=list(GROUPINGS.items()), initial="customer"
    )
    currency = forms.CharField(required=False, max_length=3)
    collector = forms.CharField(required=False, max_length=20)
    segment = forms.CharField(required=False, max_length=50)
    customer = forms.IntegerField(required=False, min_value=1)
    in_base = forms.BooleanField(required=False)
    sort = forms.ChoiceField(required=False, choices=[(s, s) for s in SORTS])
    page = forms.IntegerField(required=False, min_value=1)
    bucket = forms.CharField(required=False, max_length=10)

    def raw(self) -> dict:
        """The cleaned values as an export request takes them."""
        data = self.cleaned_data
        return {
            key: data[key].isoformat() if key == "as_of" else data[key]
            for key in (
                "as_of",
                "buckets",
                "group_by",
                "currency",
                "collector",
                "segment",
                "customer",
                "bucket",
            )
            if data.get(key) not in (None, "")
        }


def _aging_form(request) -> tuple[AgingForm, dict]:
    form = AgingForm(request.GET)
    form.is_valid()
    return form, form.cleaned_data


def _check_query(form: forms.Form) -> None:
    """Refuse the page when a query parameter is invalid (``?as_of=2026-13-45``):
    leaving it out would show another report than the one asked for."""
    for name, errors in form.errors.items():
        typed = form.data.get(name, "")
        raise DomainError(
            "invalid_parameter",
            _("%(name)s: %(error)s (got “%(typed)s”); nothing is shown for it.")
            % {"name": name, "error": errors[0], "typed": typed[:40]},
            field=name,
        )


@organization_required
@require_GET
@report_reads()
def aging_page(request):
    form, data = _aging_form(request)
    context = {
        "form": form,
        "collectors": _collectors(request.organization),
        "segments": _segments(),
        "bucket_sets": AgingBucketSet.objects.all(),
        "group_labels": GROUPINGS,
        "group_label": GROUPINGS.get(data.get("group_by") or "customer", ""),
    }
    try:
        _check_query(form)
        spec = exports.export_spec("aging", "csv", form.raw())
        report = aging_report(
            as_of=data.get("as_of"),
            boundaries=spec.parameters["buckets"],
            group_by=spec.parameters["group_by"],
            filters=exports.aging_filters(spec.parameters),
            in_base=bool(data.get("in_base")),
            sort=data.get("sort") or "total",
            page=data.get("page") or 1,
            page_size=PAGE_SIZE,
        )
    except DomainError as error:
        context["error"] = error.message
        return render(request, "reports/aging.html", context, status=400)
    boundaries = ",".join(str(b) for b in spec.parameters["buckets"])
    _attach_drill_queries(report, form.raw(), boundaries)
    links = (
        [
            f"{reverse('aging-invoices')}?{report.totals[0].drill}&bucket={b.index}"
            for b in report.buckets
        ]
        if report.totals
        else []
    )
    context |= {
        "report": report,
        "group_label": GROUPINGS[report.group_by],
        "boundaries": boundaries,
        "chart": charts_.aging_chart(report, links) if report.totals else None,
        "export_fields": {
            **form.raw(),
            "in_base": "on" if report.base_currency else "",
        },
        "query": _query(request, drop=("page", "sort")),
        "page_query": _query(request, drop=("page",)),
    }
    return render(request, "reports/aging.html", context)


GROUP_PARAMETER = {
    "customer": "customer",
    "collector": "collector",
    "segment": "segment",
    "currency": "currency",
}


def _attach_drill_queries(report, raw: dict, boundaries: str) -> None:
    """Give every line and total the query string of its invoices' list."""
    base = {
        key: value
        for key, value in raw.items()
        if key in ("collector", "segment", "currency", "customer")
    }
    base["buckets"] = boundaries
    if not report.is_today:
        base["as_of"] = report.as_of.isoformat()
    rows = [(line, True) for line in report.lines]
    for line, is_row in [*rows, *[(total, False) for total in report.totals]]:
        query = QueryDict(mutable=True)
        query.update(base)
        if is_row:
            value = line.key
            if report.group_by == "collector" and value is None:
                value = exports.NO_COLLECTOR
            elif report.group_by == "segment" and not value:
                value = exports.NO_SEGMENT
            query[GROUP_PARAMETER[report.group_by]] = value
        if not report.base_currency:
            query["currency"] = line.currency
        line.drill = query.urlencode()


@organization_required
@require_GET
@report_reads()
def aging_invoices_page(request):
    """The invoices behind an aging cell: a bucket (or "overdue") of a group."""
    form, data = _aging_form(request)
    bucket_value = data.get("bucket") or ""
    context = {"form": form, "title": _("Invoices behind the aging")}
    try:
        _check_query(form)
        boundaries = (
            parse_boundaries(data["buckets"])
            if data.get("buckets")
            else default_boundaries()
        )
        buckets = make_buckets(boundaries)
        bucket = None
        if bucket_value.isdigit():
            if int(bucket_value) >= len(buckets):
                raise DomainError(
                    "invalid_choice", _("No such bucket."), field="bucket"
                )
            bucket = buckets[int(bucket_value)]
        raw = form.raw()
        raw.pop("bucket", None)
        spec = exports.export_spec("aging_invoices", "csv", raw)
        invoices = aging_invoices(
            as_of=data.get("as_of"),
            bucket=bucket,
            overdue_only=bucket_value == "overdue",
            filters=exports.aging_filters(spec.parameters),
        )
    except DomainError as error:
        context["error"] = error.message
        return render(request, "reports/aging_invoices.html", context, status=400)
    today = request.organization.today()
    as_of = data.get("as_of") or today
    # The nightly prediction is as of today: shown beside today's aging only,
    # joined in the page's one query.
    show_expected = as_of == today
    if show_expected:
        invoices = invoices.select_related("prediction")
    page = Paginator(invoices, PAGE_SIZE).get_page(request.GET.get("page"))
    for invoice in page:
        invoice.days_past_due = max((as_of - invoice.due_date).days, 0)
        invoice.open_as_of = exact(invoice.open_as_of, invoice.currency)
    context |= {
        "as_of": as_of,
        "show_expected": show_expected,
        "bucket": bucket,
        "overdue_only": bucket_value == "overdue",
        "page": page,
        "filters": spec.parameters,
        "export_kind": "aging_invoices",
        "query": _query(request, drop=("page",)),
    }
    return render(request, "reports/aging_invoices.html", context)


@organization_required
@require_GET
@report_reads()
def forecast_invoices_page(request):
    week = request.GET.get("week", "")
    if week not in ("", "past") and not week.isdigit():
        raise Http404("No such week.")
    number = int(week) if week.isdigit() else None
    invoices = forecast_invoices(week=number)
    today = request.organization.today()
    page = Paginator(invoices, PAGE_SIZE).get_page(request.GET.get("page"))
    for invoice in page:
        invoice.days_past_due = max((today - invoice.due_date).days, 0)
        invoice.open_as_of = exact(invoice.open_as_of, invoice.currency)
        invoice.expected_date = today + timedelta(days=invoice.expected_in)
    if number is None:
        title = _("Cash past its expected date")
    else:
        start = today + timedelta(days=7 * number)
        title = _("Cash expected %(start)s to %(end)s") % {
            "start": start.isoformat(),
            "end": (start + timedelta(days=6)).isoformat(),
        }
    return render(
        request,
        "reports/aging_invoices.html",
        {
            "title": title,
            "as_of": today,
            "page": page,
            "forecast": True,
            "query": _query(request, drop=("page",)),
        },
    )


def _query(request, *, drop=()) -> str:
    query = request.GET.copy()
    for key in drop:
        query.pop(key, None)
    return query.urlencode()


# --- metrics ----------------------------------------------------------------------


SCOPE_LABELS = {
    "organization": gettext_lazy("Organization"),
    "collector": gettext_lazy("Collector"),
    "segment": gettext_lazy("Segment"),
}
COMPARISON_TITLES = {
    "collector": gettext_lazy("Every collector, %(month)s"),
    "segment": gettext_lazy("Every segment, %(month)s"),
}


class MetricsForm(forms.Form):
    scope = forms.ChoiceField(
        required=False,
        choices=[
            ("organization", gettext_lazy("Organization")),
            ("collector", gettext_lazy("Collector")),
            ("segment", gettext_lazy("Segment")),
        ],
    )
    key = forms.CharField(required=False, max_length=60)
    months = forms.IntegerField(required=False, min_value=1, max_value=60)
    end_month = forms.DateField(
        required=False, input_formats=["%Y-%m"], widget=forms.DateInput()
    )
    currency_view = forms.ChoiceField(
        required=False,
        choices=[
            ("base", gettext_lazy("Base")),
            ("each", gettext_lazy("Each currency")),
        ],
    )


@organization_required
@require_GET
@report_reads()
def prediction_accuracy_page(request):
    """How well the payment-date prediction did on recent history, and what
    serves: the trained model or the customer-median baseline, and why."""
    forecasts = forecast_accuracy(today=request.organization.today())
    return render(
        request,
        "reports/prediction_accuracy.html",
        {
            "accuracy": prediction_accuracy(),
            "forecast_accuracy": forecasts,
            "forecast_reconstructed": any(
                row.reconstructed for f in forecasts for row in f.horizons
            ),
        },
    )


@organization_required
@require_GET
@report_reads()
def metrics_page(request):
    form = MetricsForm(request.GET)
    form.is_valid()
    data = form.cleaned_data
    scope = data.get("scope") or "organization"
    context = {
        "form": form,
        "definitions": DEFINITIONS,
        "scope": scope,
        "scope_label": SCOPE_LABELS.get(scope, scope),
    }
    try:
        _check_query(form)
        report = metrics_report(
            end_month=data.get("end_month"),
            months=data.get("months") or 24,
            scope=scope,
            key=data.get("key") or "",
            in_base=data.get("currency_view") != "each",
            allow_stale=True,
        )
    except DomainError as error:
        context["error"] = error.message
        return render(request, "reports/metrics.html", context, status=400)
    if report.stale or (report.source == "ledger" and not data.get("end_month")):
        refresh_metrics.delay(request.organization.pk)
    keys = [key for key, _, _ in report.comparison]
    idle_months = _trim_idle_months(report.series)
    series = report.series[0] if report.series else None
    if series is not None:
        links = _month_links(series, in_base=data.get("currency_view") != "each")
        context["charts"] = {
            "dso": charts_.dso_chart(series, links),
            "cei": charts_.cei_chart(series, links),
            "receivables": charts_.receivables_chart(series, links),
        }
    context |= {
        "report": report,
        "key_choices": [
            (key or NO_KEY, label) for key, label in scope_labels(scope, keys).items()
        ],
        "selected_key": report.key or NO_KEY,
        "idle_months": idle_months,
        "key_label": scope_labels(scope, [report.key]).get(report.key, ""),
        "comparison_title": (
            COMPARISON_TITLES[scope] % {"month": format_date(report.months[-1], "M Y")}
            if scope in COMPARISON_TITLES and report.months
            else ""
        ),
    }
    return render(request, "reports/metrics.html", context)


# --- customer history and statement --------------------------------------------------


@organization_required
@require_GET
@report_reads()
def customer_history_page(request, pk: int):
    customer = get_object_or_404(Customer.objects, pk=pk)
    today = request.organization.today()
    invoices = Paginator(customer_invoice_history(customer=customer), 25).get_page(
        request.GET.get("page")
    )
    activity = monthly_activity(customer=customer)
    quarters = quarterly_behaviour(customer=customer)
    currencies = sorted({row.currency for row in activity})
    activity_currency = (
        customer.currency if customer.currency in currencies else currencies[0]
    )
    invoices_url = f"{reverse('invoices')}?customer={customer.pk}"
    trend = payment_trend(customer=customer)
    return render_htmx(
        request,
        "reports/customer_history.html",
        "reports/_history_invoices.html",
        {
            "customer": customer,
            "overall": payment_behaviour(customer=customer),
            "last_year": payment_behaviour(
                customer=customer, settled_from=today - timedelta(days=364)
            ),
            "trend": trend,
            "trend_label": TREND_LABELS[trend.direction],
            "activity_currency": activity_currency,
            "charts": {
                "activity": charts_.activity_chart(
                    activity, activity_currency, invoices_url
                ),
                "behaviour": charts_.behaviour_chart(quarters, invoices_url),
            },
            "invoices": invoices,
            "aging": aging_report(
                group_by="currency",
                filters=exports.aging_filters({"customer": customer.pk}),
            ),
        },
    )


TREND_LABELS = {
    "unknown": gettext_lazy("unknown"),
    "worsening": gettext_lazy("worsening"),
    "improving": gettext_lazy("improving"),
    "steady": gettext_lazy("steady"),
}


class StatementForm(forms.Form):
    start = OrgDateField(required=False)
    end = OrgDateField(required=False)
    currency = forms.CharField(required=False, max_length=3)
    format = forms.ChoiceField(
        required=False, choices=[("html", gettext_lazy("Page")), ("pdf", "PDF")]
    )


def _statement_period(request, customer) -> tuple[StatementForm, date, date, str]:
    form = StatementForm(request.GET if request.method == "GET" else request.POST)
    form.is_valid()
    data = form.cleaned_data
    end = data.get("end") or request.organization.today()
    start = data.get("start") or add_months(end, -2)
    currency = (data.get("currency") or customer.currency).upper()
    return form, start, end, currency


@organization_required
@report_reads()
def customer_statement_page(request, pk: int):
    """Statement of account for a period (default: the last three months up to
    today) as a page, a PDF (``?format=pdf``) or, posted, an email."""
    customer = get_object_or_404(Customer.objects, pk=pk)
    form, start, end, currency = _statement_period(request, customer)
    if request.method == "POST":
        if not role_can(request.membership.role, "collect"):
            return HttpResponseForbidden(_("Your role does not allow this."))
        try:
            delivery = services.statement_email_request(
                customer=customer,
                start=start,
                end=end,
                currency=currency,
                actor=_actor(request),
            )
        except DomainError as error:
            messages.error(request, error.message)
        else:
            if delivery.recipients:
                recipients = ", ".join(delivery.recipients)
                messages.success(
                    request,
                    _("The statement is being emailed to %(recipients)s.")
                    % {"recipients": recipients},
                )
            else:
                messages.warning(
                    request,
                    _(
                        "%(name)s has no billing contact with an email address; "
                        "nothing was sent."
                    )
                    % {"name": customer.name},
                )
        url = reverse("customer-statement", args=[customer.pk])
        return redirect(
            f"{url}?start={start.isoformat()}&end={end.isoformat()}&currency={currency}"
        )
    try:
        _check_query(form)
        the_statement = statement(
            customer=customer, start=start, end=end, currency=currency
        )
    except DomainError as error:
        return render(
            request,
            "reports/statement.html",
            {"customer": customer, "form": form, "error": error.message},
            status=400,
        )
    if request.GET.get("format") == "pdf":
        response = HttpResponse(
            statement_pdf(the_statement), content_type="application/pdf"
        )
        name = f"statement-{customer.number}-{end.isoformat()}.pdf"
        response["Content-Disposition"] = f'inline; filename="{name}"'
        return response
    return render(
        request,
        "reports/statement.html",
        {
            "customer": customer,
            "form": form,
            "statement": the_statement,
            "currencies": statement_currencies(customer=customer),
            "can_email": role_can(request.membership.role, "collect"),
            "recipients": services.statement_recipients(customer),
        },
    )


# --- exports ----------------------------------------------------------------------


@organization_required
@require_POST
def export_start(request):
    """Export a report: small ones at once, large ones as a job with progress."""
    kind = request.POST.get("kind", "")
    fmt = request.POST.get("format", "")
    raw = {key: value for key, value in request.POST.items() if value}
    try:
        spec = exports.export_spec(kind, fmt, raw)
        with report_reads():
            needs_job = spec.format != "pdf" and services.export_needs_job(spec)
        if needs_job:
            job = services.export_job_create(spec=spec, actor=_actor(request))
            return redirect("report-export-job", pk=job.pk)
        stream = io.BytesIO()
        with report_reads():
            services.export_write(spec, stream)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect(request.headers.get("Referer") or reverse("aging"))
    stream.seek(0)
    return FileResponse(
        stream,
        as_attachment=True,
        filename=spec.filename(request.organization.today()),
        content_type=spec.content_type,
    )


EXPORT_KIND_LABELS = {
    "export_aging": gettext_lazy("Aging"),
    "export_aging_invoices": gettext_lazy("Invoices behind the aging"),
    "export_customer_history": gettext_lazy("Payment history"),
    "export_invoices": gettext_lazy("Invoices"),
}


def _export_job(pk: int) -> Job:
    return get_object_or_404(Job.objects.filter(kind__startswith="export_"), pk=pk)


@organization_required
@require_GET
def export_job_page(request, pk: int):
    job = _export_job(pk)
    return render_htmx(
        request,
        "reports/export_job.html",
        "reports/_export_status.html",
        {
            "job": job,
            "kind_label": EXPORT_KIND_LABELS.get(
                job.kind, job.kind.removeprefix("export_").capitalize()
            ),
            "finished": job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED),
        },
    )


@organization_required
@require_GET
def export_download(request, pk: int):
    job = _export_job(pk)
    if job.status != Job.Status.SUCCEEDED or not job.output_file:
        raise Http404("This export has no file (yet).")
    spec = services.export_spec_of(job)
    return FileResponse(
        job.output_file.open("rb"),
        as_attachment=True,
        filename=job.result.get("filename") or spec.filename(job.created_at.date()),
        content_type=spec.content_type,
    )


# --- settings ---------------------------------------------------------------------


@organization_required
def bucket_sets_page(request):
    """The organization's aging bucket sets; admins and finance change them."""
    can_change = request.membership.role in (Role.ADMIN, Role.FINANCE)
    if request.method == "POST":
        if not can_change:
            return HttpResponseForbidden(_("Your role does not allow this."))
        try:
            services.bucket_set_save(
                name=request.POST.get("name", ""),
                boundaries=request.POST.get("boundaries", ""),
                make_default=bool(request.POST.get("is_default")),
                actor=_actor(request),
            )
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Bucket set saved."))
        return redirect("aging-bucket-sets")
    bucket_sets = [
        (bucket_set, make_buckets(bucket_set.boundaries))
        for bucket_set in AgingBucketSet.objects.all()
    ]
    return render(
        request,
        "reports/bucket_sets.html",
        {
            "bucket_sets": bucket_sets,
            "can_change": can_change,
            "default_buckets": make_buckets(default_boundaries()),
        },
    )


@organization_required
@require_GET
def search_page(request):
    """Results of the search box: more of each kind, each linked to its page."""
    results = search.search(request.GET.get("q", ""), limit=search.PAGE_LIMIT)
    return render(request, "reports/search.html", {"results": results})


@organization_required
@require_GET
def search_suggestions(request):
    """The dropdown under the search box while typing: the best few of each kind."""
    results = search.search(request.GET.get("q", ""))
    return render(request, "reports/_search_suggestions.html", {"results": results})
