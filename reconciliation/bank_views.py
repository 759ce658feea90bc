"""Pages of cash application: bank accounts, statement uploads with progress, and
the exceptions queue. Every queue action is an htmx POST that answers with the
line's row again (a refused one answers 422 with the row and the reason), so a
person works down the queue without page reloads.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import wraps

from django import forms
from django.db import transaction
from django.http import Http404, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as gettext_now
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from invoicing.models import Invoice
from o2c.errors import DomainError
from o2c.models import Job
from o2c.money import quantize
from o2c.roles import role_can
from o2c.services import Actor
from o2c.views import organization_required
from orders.models import Customer
from reconciliation.models import BankAccount, MatchSuggestion, StatementLine
from reconciliation.selectors import open_invoices_search
from reconciliation.services import bank_accounts, lines, matching, statements

L = StatementLine
RECENT_AUTOMATIC = 50


def capability_required(capability: str):
    def decorator(view):
        @wraps(view)
        @organization_required
        def wrapper(request, *args, **kwargs):
            if not role_can(request.membership.role, capability):
                return HttpResponseForbidden(
                    gettext_now("Your role does not allow this.")
                )
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def _actor(request) -> Actor:
    return Actor.for_member(request.membership)


# --- bank accounts ------------------------------------------------------------------


class BankAccountForm(forms.Form):
    name = forms.CharField(max_length=100, label=_("Name"))
    iban = forms.CharField(max_length=42, required=False, label="IBAN")
    account_number = forms.CharField(
        max_length=40, required=False, label=_("Account number")
    )
    bic = forms.CharField(max_length=11, required=False, label="BIC")
    routing_number = forms.CharField(
        max_length=20, required=False, label=_("Routing number")
    )
    currency = forms.CharField(max_length=3, label=_("Currency"))
    is_default = forms.BooleanField(required=False, label=_("Print on invoices"))


@capability_required("view")
def bank_account_list(request):
    """The organization's accounts and a form to add one (or change one)."""
    editing = None
    if request.GET.get("edit"):
        editing = get_object_or_404(BankAccount, pk=request.GET["edit"])
    initial = (
        {name: getattr(editing, name) for name in BankAccountForm.base_fields}
        if editing
        else {"currency": request.organization.base_currency}
    )
    form = BankAccountForm(initial=initial)
    error = None
    if request.method == "POST":
        if not role_can(request.membership.role, "receive_cash"):
            return HttpResponseForbidden(gettext_now("Your role does not allow this."))
        if request.POST.get("account"):
            editing = get_object_or_404(BankAccount, pk=request.POST["account"])
        form = BankAccountForm(request.POST)
        if form.is_valid():
            try:
                bank_accounts.bank_account_save(
                    bank_account=editing, actor=_actor(request), **form.cleaned_data
                )
                return redirect("bank-accounts")
            except DomainError as problem:
                error = problem.message
    return render(
        request,
        "reconciliation/bank_accounts.html",
        {
            "accounts": BankAccount.objects.order_by("-is_default", "name"),
            "form": form,
            "editing": editing,
            "error": error,
        },
        status=422 if error else 200,
    )


# --- statement upload -----------------------------------------------------------------


class UploadForm(forms.Form):
    # The organization's accounts are set per request in __init__; the class
    # attribute must not touch a tenant manager at import time.
    bank_account = forms.ModelChoiceField(
        queryset=BankAccount.unscoped.none(), label=_("Bank account")
    )
    file = forms.FileField(label=_("File"))
    format = forms.ChoiceField(
        required=False,
        label=_("Format"),
        choices=[
            ("", _("Recognise from the file")),
            *[(f, f) for f in statements.FORMATS],
        ],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["bank_account"].queryset = BankAccount.objects.order_by("name")
        # Two accounts may share a name; the number and currency tell them apart.
        self.fields["bank_account"].label_from_instance = lambda account: (
            f"{account.name} · {account.iban or account.account_number} · "
            f"{account.currency}"
        )


@capability_required("view")
def statement_upload(request):
    form = UploadForm()
    error = None
    if request.method == "POST":
        if not role_can(request.membership.role, "receive_cash"):
            return HttpResponseForbidden(gettext_now("Your role does not allow this."))
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                job = statements.statement_import_job_create(
                    bank_account=form.cleaned_data["bank_account"],
                    file=form.cleaned_data["file"],
                    file_format=form.cleaned_data["format"] or None,
                    actor=_actor(request),
                )
                return redirect("bank-statement-job", pk=job.pk)
            except DomainError as problem:
                error = problem.message
    jobs = Job.objects.filter(
        kind__in=[statements.IMPORT_JOB, matching.MATCH_JOB]
    ).order_by("-created_at")[:20]
    return render(
        request,
        "reconciliation/statement_upload.html",
        {"form": form, "error": error, "jobs": jobs},
        status=422 if error else 200,
    )


@capability_required("view")
def statement_job(request, pk):
    """One import or matching job; the status part polls itself until done."""
    job = get_object_or_404(
        Job, pk=pk, kind__in=[statements.IMPORT_JOB, matching.MATCH_JOB]
    )
    context = {
        "job": job,
        "finished": job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED),
        "matching_job": job.result.get("matching_job"),
    }
    template = (
        "reconciliation/_job_status.html"
        if request.headers.get("HX-Request")
        else "reconciliation/statement_job.html"
    )
    return render(request, template, context)


# --- the exceptions queue ---------------------------------------------------------


@capability_required("view")
def bank_queue(request):
    """Lines waiting for a person, with their suggestions; below them the latest
    automatic matches, each of which can be undone."""
    waiting = (
        L.objects.filter(status__in=L.OPEN, direction=L.Direction.CREDIT)
        .prefetch_related("suggestions__customer")
        .order_by("booking_date", "pk")[:200]
    )
    automatic = (
        L.objects.filter(status=L.Status.MATCHED_AUTO)
        .select_related("customer")
        .order_by("-pk")[:RECENT_AUTOMATIC]
    )
    return render(
        request,
        "reconciliation/bank_queue.html",
        {
            "waiting": [_row(line) for line in waiting],
            "automatic": [_row(line) for line in automatic],
            "can_act": role_can(request.membership.role, "receive_cash"),
        },
    )


def _row(line: StatementLine, **extra) -> dict:
    return {
        "line": line,
        # As the currency writes it ("920.00", not the column's "920.000"), for
        # the split's arithmetic in the browser.
        "amount": quantize(line.amount, line.currency),
        "suggestions": list(line.suggestions.all()),
        **extra,
    }


@capability_required("receive_cash")
def line_invoice_search(request, pk):
    """Open invoices in the line's currency by number, customer or amount, to add
    to the line's split (an htmx partial under the search box)."""
    line = get_object_or_404(L, pk=pk)
    text = request.GET.get("q", "")
    invoices = list(open_invoices_search(text=text, currency=line.currency))
    for invoice in invoices:
        # The discount the line's cash would still earn on it, shown beside it.
        invoice.discount_offered = lines.discount_offered(invoice, line)
        invoice.pays_with_discount = invoice.open_amount - invoice.discount_offered
    return render(
        request,
        "reconciliation/_invoice_search.html",
        {"line": line, "text": text.strip(), "invoices": invoices},
    )


@require_POST
@capability_required("receive_cash")
def line_action(request, pk, action):
    if action not in _ACTIONS:
        raise Http404("No such action.")
    line = get_object_or_404(L, pk=pk)
    try:
        with transaction.atomic():
            line = _ACTIONS[action](request, line, _actor(request))
    except DomainError as problem:
        return render(
            request,
            "reconciliation/_line_row.html",
            {"row": _row(line, error=problem.message), "can_act": True},
            status=422,
        )
    line = L.objects.get(pk=line.pk)
    return render(
        request,
        "reconciliation/_line_row.html",
        {"row": _row(line, done=True), "can_act": True},
    )


def _apply_suggestion(request, line, actor):
    suggestion = get_object_or_404(
        MatchSuggestion, pk=request.POST.get("suggestion"), line=line
    )
    return matching.line_apply_suggestion(line=line, suggestion=suggestion, actor=actor)


def _split(request, line, actor):
    """Allocations typed as one "invoice number, amount" per row."""
    allocations = []
    for number, amount in zip(
        request.POST.getlist("invoice"), request.POST.getlist("amount"), strict=False
    ):
        if not number.strip():
            continue
        invoice = Invoice.objects.filter(number=number.strip()).first()
        if invoice is None:
            raise DomainError(
                "unknown_invoice",
                gettext_now("No invoice %(number)s.") % {"number": number.strip()},
            )
        try:
            allocations.append(lines.LineAllocation(invoice, Decimal(amount.strip())))
        except InvalidOperation:
            raise DomainError(
                "invalid_amount",
                gettext_now("'%(amount)s' is not an amount.") % {"amount": amount},
            ) from None
    # Offered in the form (ticked unless the person unticks it): an invoice
    # paid its open amount less its early-payment discount, within the terms.
    discounts = (
        lines.discounts_for_split(line, allocations)
        if request.POST.get("take_discounts")
        else []
    )
    reason = "split by hand"
    if discounts:
        reason += "; " + "; ".join(
            f"early-payment discount {quantize(d.amount, line.currency)} "
            f"{line.currency} on {d.invoice.number}"
            for d in discounts
        )
    return lines.line_apply(
        line=line,
        allocations=allocations,
        discounts=discounts,
        on_account=_customer(request.POST.get("on_account")),
        reason=reason,
        actor=actor,
    )


def _on_account(request, line, actor):
    customer = _customer(request.POST.get("customer"))
    if customer is None:
        raise DomainError("required", gettext_now("Name the customer by number."))
    return lines.line_apply(
        line=line, on_account=customer, reason="put on account by hand", actor=actor
    )


def _customer(number: str | None) -> Customer | None:
    number = (number or "").strip()
    if not number:
        return None
    customer = Customer.objects.filter(number=number).first()
    if customer is None:
        raise DomainError(
            "unknown_customer",
            gettext_now("No customer %(number)s.") % {"number": number},
        )
    return customer


def _not_receivable(request, line, actor):
    return lines.line_not_receivable(
        line=line, reason=request.POST.get("reason", ""), actor=actor
    )


def _undo(request, line, actor):
    return lines.line_undo(line=line, actor=actor)


_ACTIONS = {
    "apply": _apply_suggestion,
    "split": _split,
    "on-account": _on_account,
    "not-receivable": _not_receivable,
    "undo": _undo,
}
