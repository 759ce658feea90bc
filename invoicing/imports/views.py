"""Browser pages of imports: upload form, job page polled with htmx, CSV templates."""

import csv

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from invoicing.imports import selectors, services
from invoicing.imports.columns import COLUMNS
from invoicing.imports.parsing import DATE_FORMATS, ISO, RowError
from o2c.errors import DomainError
from o2c.models import Job
from o2c.roles import role_can
from o2c.services import Actor

RECENT_JOBS = 20


class ImportForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("Kind"),
        choices=[
            ("invoices", gettext_lazy("Invoices (open items and settled history)")),
            ("customers", gettext_lazy("Customers")),
        ],
    )
    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy("CSV (UTF-8) or XLSX, at most 20 MB."),
    )
    customers_file = forms.FileField(
        required=False,
        label=gettext_lazy("Customers file"),
        help_text=gettext_lazy(
            "Invoices only: customers to create first, in the same import."
        ),
    )
    date_format = forms.ChoiceField(
        choices=[(code, label) for code, (_, label) in DATE_FORMATS.items()],
        initial=ISO,
        label=gettext_lazy("Date format"),
        help_text=gettext_lazy(
            "How the file writes dates; YYYY-MM-DD is always accepted."
        ),
    )


def _organization_required(request):
    if request.organization is None:
        raise PermissionDenied(_("You are not a member of any organization."))


@login_required
def import_list(request):
    _organization_required(request)
    role = request.membership.role
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        kind = form.cleaned_data["kind"]
        if not role_can(role, services.KIND_CAPABILITY[kind]):
            raise PermissionDenied(
                _("Your role cannot import %(kind)s.") % {"kind": kind}
            )
        try:
            job = services.import_job_create(
                actor=Actor.for_member(request.membership),
                **form.cleaned_data,
            )
        except DomainError as error:
            field = error.field if error.field in form.fields else None
            form.add_error(field, error.message)
        else:
            return redirect("imports:detail", pk=job.pk)
    return render(
        request,
        "imports/list.html",
        {
            "form": form,
            "jobs": selectors.import_jobs()[:RECENT_JOBS],
            "columns": COLUMNS,
            "can_import": role_can(role, "bill") or role_can(role, "manage_customers"),
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_GET
def import_detail(request, pk: int):
    _organization_required(request)
    return render(request, "imports/detail.html", _job_context(pk))


@login_required
@require_GET
def import_status(request, pk: int):
    """The fragment the job page polls every second until the job is finished."""
    _organization_required(request)
    return render(request, "imports/_status.html", _job_context(pk))


def _job_context(pk: int) -> dict:
    job = get_object_or_404(selectors.import_jobs(), pk=pk)
    return {
        "job": job,
        "kind": services.kind_of(job),
        "finished": job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED),
        "errors": [RowError(**error) for error in job.errors or []],
    }


@login_required
@require_GET
def import_template(request, kind: str):
    """A CSV holding just the header row of the columns ``kind`` accepts."""
    if kind not in COLUMNS:
        raise Http404
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{kind}-template.csv"'
    csv.writer(response).writerow(column.name for column in COLUMNS[kind])
    return response
