"""Payment plans in the browser: propose, adjust and create a plan from a
customer's page; its instalments as the ledger has them; cancel it.

The form proposes the instalment rows (:func:`plan_schedule_propose`, the same
split the API's ``count`` uses) whenever the invoices, the number, the first
date or the interval change; each row stays editable. Creating calls
:func:`payment_plan_create` with the rows as typed, so the service's rules —
rows adding up to the balance, dates ascending and not in the past — come back
next to the row they name (``instalments[1].due_date`` is the second row's date),
the input kept and nothing written.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.forms import formset_factory
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from collecting.models import PaymentPlan
from collecting.selectors import (
    PAUSE_PLAN,
    open_invoices_of,
    paused_invoices,
    plan_cancellation,
    plan_instalment_states,
)
from collecting.services.commitments import (
    MAX_INSTALMENTS,
    add_months,
    payment_plan_cancel,
    payment_plan_create,
    plan_schedule_propose,
)
from invoicing.models import Invoice
from o2c.errors import DomainError
from o2c.numbers import NotANumber, number_example, parse_number
from o2c.roles import role_can
from o2c.views import actor_of, capability_required, is_htmx
from orders.forms import AmountField, BusinessDateField, show_domain_error
from orders.models import Customer
from orders.views import go_to, refused

MONTHLY, WEEKLY = "monthly", "weekly"
INTERVALS = {MONTHLY: {"interval_months": 1}, WEEKLY: {"interval_days": 7}}
DEFAULT_COUNT = 3


class PlanForm(forms.Form):
    invoices = forms.TypedMultipleChoiceField(
        coerce=int, widget=forms.CheckboxSelectMultiple, label=gettext_lazy("Invoices")
    )
    count = forms.IntegerField(
        min_value=1,
        max_value=MAX_INSTALMENTS,
        label=gettext_lazy("Number of instalments"),
    )
    first_date = BusinessDateField(label=gettext_lazy("First instalment on"))
    interval = forms.ChoiceField(
        choices=[(MONTHLY, gettext_lazy("Monthly")), (WEEKLY, gettext_lazy("Weekly"))],
        label=gettext_lazy("Every"),
    )
    note = forms.CharField(
        required=False,
        label=gettext_lazy("Note"),
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, invoices: list[Invoice], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["invoices"].choices = [(i.pk, i.number) for i in invoices]
        self.fields["invoices"].error_messages["invalid_choice"] = _(
            "Invoice %(value)s is not an open invoice of this customer."
        )


class InstalmentRowForm(forms.Form):
    due_date = BusinessDateField()
    amount = AmountField()

    def __init__(self, *args, number: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.number = number
        # The label is in the error message: it names the row.
        self.fields["due_date"].label = _("Instalment %(number)s date") % {
            "number": number
        }
        self.fields["amount"].label = _("Instalment %(number)s amount") % {
            "number": number
        }
        self.fields["amount"].error_messages["invalid"] = _(
            "Instalment %(number)s: enter the amount as a number, e.g. %(example)s."
        ) % {"number": number, "example": number_example()}


class BaseInstalmentRows(forms.BaseFormSet):
    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "number": index + 1}


InstalmentRows = formset_factory(
    InstalmentRowForm,
    formset=BaseInstalmentRows,
    extra=0,
    max_num=MAX_INSTALMENTS,
    absolute_max=MAX_INSTALMENTS,
    validate_max=True,
)
ROWS = "rows"


@capability_required("collect")
def plan_new(request, pk):
    """The form (GET), a new proposal (``propose``), the rows' sum against the
    invoices' (``check``), or the plan created (a plain POST)."""
    customer = get_object_or_404(Customer.objects.all(), pk=pk)
    today = request.organization.today()
    invoices = list(open_invoices_of(customer))
    planned = {
        invoice_id
        for invoice_id, reason in paused_invoices(
            invoice_ids=[invoice.pk for invoice in invoices]
        ).items()
        if reason == PAUSE_PLAN
    }
    choosable = [invoice for invoice in invoices if invoice.pk not in planned]
    context = {
        "customer": customer,
        "invoices": invoices,
        "planned": planned,
        "choosable": choosable,
        "today": today,
    }
    if request.method != "POST":
        form = PlanForm(
            invoices=choosable,
            initial={
                "invoices": [i.pk for i in choosable if i.due_date < today],
                "count": DEFAULT_COUNT,
                "first_date": add_months(today, 1),
                "interval": MONTHLY,
            },
        )
        rows = _proposal(form, choosable, form.initial)
        return _page(request, context, form, rows)

    form = PlanForm(request.POST, invoices=choosable)
    form.is_valid()
    if "propose" in request.POST:
        rows = _proposal(form, choosable, form.cleaned_data)
        if rows is None:  # the terms are incomplete: keep the rows as typed
            rows = InstalmentRows(request.POST, prefix=ROWS)
        return _page(request, context, form, rows)
    rows = InstalmentRows(request.POST, prefix=ROWS)
    if "check" in request.POST:
        return render(
            request,
            "collecting/_plan_summary.html",
            _summary(form, choosable, rows),
        )
    rows_valid = rows.is_valid()
    if form.is_valid() and rows_valid:
        try:
            plan = payment_plan_create(
                customer=customer,
                invoices=[
                    i for i in choosable if i.pk in form.cleaned_data["invoices"]
                ],
                instalments=[
                    (row.cleaned_data["due_date"], row.cleaned_data["amount"])
                    for row in rows.forms
                ],
                actor=actor_of(request),
                note=form.cleaned_data["note"],
            )
        except DomainError as error:
            _show_error(error, form, rows, context)
        else:
            messages.success(
                request, _("Payment plan #%(number)s created.") % {"number": plan.pk}
            )
            return go_to(request, reverse("collecting:plan", args=[plan.pk]))
    context["refused"] = True
    return _page(request, context, form, rows, refused_status=True)


def _proposal(form, choosable, terms):
    """Rows proposed for the chosen invoices and terms; ``None`` when the terms
    are incomplete or invalid (their errors are on the form)."""
    chosen = {int(pk) for pk in terms.get("invoices") or []}
    selected = [invoice for invoice in choosable if invoice.pk in chosen]
    currencies = {invoice.currency for invoice in selected}
    if not selected or len(currencies) != 1:
        return InstalmentRows(prefix=ROWS, initial=[])
    try:
        count, first_date = terms["count"], terms["first_date"]
        interval = INTERVALS[terms["interval"]]
    except KeyError:
        return None
    if count is None or first_date is None:
        return None
    try:
        schedule = plan_schedule_propose(
            total=sum((i.open_amount for i in selected), Decimal(0)),
            currency=currencies.pop(),
            count=count,
            first_date=first_date,
            **interval,
        )
    except DomainError as error:
        show_domain_error(error, form)
        return None
    return InstalmentRows(
        prefix=ROWS,
        initial=[{"due_date": due, "amount": amount} for due, amount in schedule],
    )


def _chosen(form: PlanForm) -> set[int]:
    values = (
        form.data.getlist("invoices")
        if form.is_bound
        else form.initial.get("invoices", [])
    )
    return {int(value) for value in values if str(value).isdigit()}


def _summary(form, choosable, rows) -> dict:
    """The chosen invoices' open balance against the rows' sum, as typed."""
    chosen = _chosen(form)
    selected = [invoice for invoice in choosable if invoice.pk in chosen]
    currencies = sorted({invoice.currency for invoice in selected})
    total = sum((invoice.open_amount for invoice in selected), Decimal(0))
    scheduled, unreadable = Decimal(0), False
    for row in rows.forms if rows.is_bound else []:
        typed = (row.data.get(row.add_prefix("amount")) or "").strip()
        try:
            scheduled += parse_number(typed) if typed else Decimal(0)
        except NotANumber:
            unreadable = True
    if not rows.is_bound:
        scheduled = sum(
            (row.initial.get("amount") or Decimal(0) for row in rows.forms),
            Decimal(0),
        )
    return {
        "selected_count": len(selected),
        "currency": currencies[0] if len(currencies) == 1 else "",
        "mixed_currencies": len(currencies) > 1,
        "total": total,
        "scheduled": scheduled,
        "difference": total - scheduled,
        "unreadable": unreadable,
    }


def _show_error(error: DomainError, form, rows, context) -> None:
    if error.field == "instalments":
        form.domain_error = error.message
        context["schedule_error"] = error.message
        return
    show_domain_error(error, form, rows=rows.forms)


def _page(request, context, form, rows, *, refused_status=False):
    context = {
        **context,
        "form": form,
        "rows": rows,
        "chosen": _chosen(form),
        **_summary(form, context["choosable"], rows),
    }
    if refused_status:
        return refused(
            request, "collecting/plan_form.html", "collecting/_plan_form.html", context
        )
    template = (
        "collecting/_plan_form.html"
        if is_htmx(request)
        else "collecting/plan_form.html"
    )
    return render(request, template, context)


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=500,
        error_messages={"required": gettext_lazy("Say why the plan is cancelled.")},
    )


@capability_required("view")
def plan_detail(request, pk):
    plan = get_object_or_404(
        PaymentPlan.objects.select_related("customer").prefetch_related("invoices"),
        pk=pk,
    )
    return _detail(request, plan, CancelForm())


def _detail(request, plan, cancel_form, status=200):
    today = request.organization.today()
    states = plan_instalment_states(plan=plan, today=today)
    context = {
        "plan": plan,
        "customer": plan.customer,
        "instalments": states,
        "paid_total": sum((s.paid_amount for s in states), Decimal(0)),
        "cancellation": plan_cancellation(plan=plan),
        "cancel_form": cancel_form,
        "can_cancel": plan.status == PaymentPlan.Status.ACTIVE
        and role_can(request.membership.role, "collect"),
    }
    template = "collecting/plan_detail.html"
    if is_htmx(request):
        template = "collecting/_plan_cancel.html"
    return render(request, template, context, status=status)


@require_POST
@capability_required("collect")
def plan_cancel(request, pk):
    plan = get_object_or_404(PaymentPlan.objects.select_related("customer"), pk=pk)
    form = CancelForm(request.POST)
    if not form.is_valid():
        return _detail(request, plan, form, status=422)
    try:
        payment_plan_cancel(
            plan=plan, actor=actor_of(request), note=form.cleaned_data["reason"]
        )
    except DomainError as error:
        form.add_error(None, error.message)
        return _detail(request, plan, form, status=422)
    messages.success(
        request, _("Payment plan #%(number)s cancelled.") % {"number": plan.pk}
    )
    return go_to(request, reverse("collecting:plan", args=[plan.pk]))
