"""Pages of the invoicing stage: the customer list with balances, invoices, PDFs,
the panels invoicing contributes to customer, order and home pages, and the forms
of invoices and credit notes (through the same services as the API; a refused
input answers 422 with the form again and nothing written)."""

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.db.models import Count, Max, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from invoicing.forms import (
    INVOICE_LINE_FIELDS,
    CreditNoteForm,
    InvoiceForm,
    InvoiceLineFormSet,
    IssueForm,
    OrderInvoiceForm,
    VoidForm,
)
from invoicing.models import CreditNote, Invoice, PortalAccess
from invoicing.portal import portal_access_revoke
from invoicing.prediction import customer_outlook, prediction_shown
from invoicing.selectors import (
    OUTSTANDING,
    InvoiceFilters,
    customer_balances,
    customer_open_invoices,
    customer_paid_invoices,
    invoice_detail,
    invoice_search,
    order_invoices,
    receivables_summary,
)
from invoicing.services import invoices
from o2c.dates import OrgDateField
from o2c.errors import DomainError
from o2c.money import quantize
from o2c.numbers import OrgNumberInput
from o2c.roles import role_can
from o2c.views import (
    DIRECTIONS,
    actor_of,
    bound_filters,
    capability_required,
    is_filtered,
    is_htmx,
    organization_required,
    pdf_attachment,
    render_htmx,
    sort_ordering,
)
from orders.forms import (
    AmountField,
    edited_rows,
    is_row_edit,
    show_domain_error,
    tenant_object,
)
from orders.models import Customer, SalesOrder
from orders.selectors import (
    CustomerFilters,
    customer_currencies,
    customer_search,
    keyset_page,
    order_detail,
)
from orders.views import go_to

# --- Customer and home panels ------------------------------------------------


@organization_required
def customer_account(request, pk):
    """Panel of the customer page: balances, open invoices, recently paid ones."""
    customer = get_object_or_404(Customer.objects, pk=pk)
    open_invoices = keyset_page(
        customer_open_invoices(customer=customer).select_related("prediction"),
        ordering=["due_date", "id"],
        cursor=request.GET.get("open_cursor", ""),
        page_size=20,
    )
    paid_invoices = keyset_page(
        customer_paid_invoices(customer=customer),
        ordering=["-invoice_date", "-id"],
        cursor=request.GET.get("paid_cursor", ""),
        page_size=10,
    )
    return render(
        request,
        "invoicing/_customer_account.html",
        {
            "customer": customer,
            "balances": customer_balances(customer=customer),
            "outlook": customer_outlook(customer=customer),
            "open_invoices": open_invoices,
            "paid_invoices": paid_invoices,
            "today": request.organization.today(),
        },
    )


def _live_portal_links(customer):
    """Links of ``customer`` not revoked and not past a fixed expiry (a used
    sign-in link counts no more)."""
    return PortalAccess.objects.filter(
        customer=customer, revoked_at__isnull=True
    ).exclude(
        Q(expires_at__lte=timezone.now())
        | Q(kind=PortalAccess.Kind.SIGN_IN, used_at__isnull=False)
    )


@organization_required
def customer_portal_panel(request, pk):
    """Panel of the customer page, for those who manage customers: the portal
    links that still work and a button that revokes them all."""
    customer = get_object_or_404(Customer.objects, pk=pk)
    if not role_can(request.membership.role, "manage_customers"):
        return HttpResponse("")
    links = _live_portal_links(customer).aggregate(
        count=Count("pk"), latest=Max("created_at")
    )
    return render(
        request,
        "invoicing/_customer_portal.html",
        {"customer": customer, "links": links},
    )


@require_POST
@capability_required("manage_customers")
def customer_portal_revoke(request, pk):
    """Revoke every portal link of the customer (audit-logged by the service)."""
    customer = tenant_object(Customer, pk)
    revoked = portal_access_revoke(customer=customer, actor=actor_of(request))
    messages.success(
        request,
        ngettext(
            "%(count)d portal link revoked. Old links now open nothing.",
            "%(count)d portal links revoked. Old links now open nothing.",
            revoked,
        )
        % {"count": revoked},
    )
    return redirect("customer", customer.pk)


@organization_required
def receivables_panel(request):
    """Panel of the home page: what is open and overdue, per currency."""
    return render(
        request,
        "invoicing/_receivables_summary.html",
        {
            "totals": receivables_summary(),
            "customer_count": customer_search(filters=CustomerFilters()).count(),
        },
    )


# --- Invoices -------------------------------------------------------------------

INVOICE_SORTS = {
    "number": ["id"],
    "invoice_date": ["invoice_date", "id"],
    "due_date": ["due_date", "id"],
    "total": ["currency", "total", "id"],
    "open": ["currency", "open_amount", "id"],
}


class InvoiceFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100)
    status = forms.ChoiceField(
        required=False,
        choices=[
            ("", gettext_lazy("Any status")),
            (OUTSTANDING, gettext_lazy("Outstanding (open or partially paid)")),
            *Invoice.Status.choices,
        ],
    )
    customer = forms.IntegerField(required=False, min_value=1)
    currency = forms.CharField(required=False, max_length=3)
    due_from = OrgDateField(required=False)
    due_to = OrgDateField(required=False)
    amount_min = AmountField(
        required=False, min_value=0, widget=OrgNumberInput({"id": "invoice-amount-min"})
    )
    amount_max = AmountField(
        required=False, min_value=0, widget=OrgNumberInput({"id": "invoice-amount-max"})
    )
    overdue = forms.BooleanField(required=False)
    sort = forms.ChoiceField(required=False, choices=[(k, k) for k in INVOICE_SORTS])
    dir = forms.ChoiceField(required=False, choices=DIRECTIONS)


@organization_required
def invoice_list(request):
    form, data = bound_filters(InvoiceFilterForm, request)
    customer = None
    if data.get("customer"):
        customer = Customer.objects.filter(pk=data["customer"]).first()
    invoices = invoice_search(
        filters=InvoiceFilters(
            query=(data.get("q") or "").strip(),
            status=data.get("status") or "",
            customer_id=data.get("customer"),
            currency=(data.get("currency") or "").upper(),
            due_from=data.get("due_from"),
            due_to=data.get("due_to"),
            amount_min=data.get("amount_min"),
            amount_max=data.get("amount_max"),
            overdue_only=bool(data.get("overdue")),
        )
    )
    sort = data.get("sort") or "number"
    direction = data.get("dir") or ("desc" if sort == "number" else "asc")
    page = keyset_page(
        invoices,
        ordering=sort_ordering(INVOICE_SORTS[sort], direction, grouped_by={"currency"}),
        cursor=request.GET.get("cursor", ""),
    )
    context = {
        "form": form,
        "page": page,
        "customer": customer,
        "sort": sort,
        "direction": direction,
        "filtered": is_filtered(data),
        "results_target": "#invoice-results",
        "today": request.organization.today(),
    }
    if not is_htmx(request):
        context["can_bill"] = role_can(request.membership.role, "bill")
        context["can_edit_templates"] = role_can(
            request.membership.role, "edit_templates"
        )
        context["statuses"] = form.fields["status"].choices
        context["currencies"] = customer_currencies()
    return render_htmx(
        request,
        "invoicing/invoice_list.html",
        "invoicing/_invoice_results.html",
        context,
    )


@organization_required
def invoice_detail_page(request, pk):
    invoice = get_object_or_404(invoice_detail(pk=pk))
    return _invoice_page(request, invoice)


def _invoice_page(request, invoice, *, action="", action_error=None, void_form=None):
    can_bill = role_can(request.membership.role, "bill")
    response = render(
        request,
        "invoicing/invoice_detail.html",
        {
            "invoice": invoice,
            "today": request.organization.today(),
            "prediction": prediction_shown(invoice),
            "can_bill": can_bill,
            "can_void": can_bill and _voidable(invoice),
            "issue_form": IssueForm(initial={"email": True}),
            "void_form": void_form or VoidForm(),
            "action": action,
            "action_error": action_error,
        },
    )
    if action_error or (void_form and void_form.errors):
        response.status_code = 422
    return response


def _voidable(invoice) -> bool:
    """The void form is offered only where voiding can succeed: a draft, or an
    issued invoice with nothing but its debit posted (a paid one is credited)."""
    if invoice.status == Invoice.Status.DRAFT:
        return True
    return invoice.is_issued and not invoices.posted_beyond_issue(
        invoice.ledger_entries.all()
    )


# --- Invoice forms ------------------------------------------------------------------


@capability_required("bill")
def invoice_create(request):
    """A direct invoice: a customer and typed lines (no sales order)."""
    data = request.POST if request.method == "POST" else None
    customer = tenant_object(
        Customer, (request.GET if data is None else data).get("customer")
    )
    if data is not None and is_row_edit(data):
        return _invoice_form(
            request,
            InvoiceForm(initial={n: data.get(n, "") for n in InvoiceForm.base_fields}),
            InvoiceLineFormSet(
                prefix="lines", initial=edited_rows(data, "lines", INVOICE_LINE_FIELDS)
            ),
            customer=customer,
        )
    form = InvoiceForm(data, initial={"invoice_date": request.organization.today()})
    lines = InvoiceLineFormSet(data, prefix="lines", initial=[{}])
    if data is None:
        return _invoice_form(request, form, lines, customer=customer)
    customer_error = "" if customer else _("Choose the customer.")
    if form.is_valid() and lines.is_valid() and customer:
        values = form.cleaned_data
        try:
            invoice = invoices.invoice_create(
                customer=customer,
                invoice_date=values["invoice_date"],
                due_date=values["due_date"],
                currency=values["currency"].strip() or None,
                customer_reference=values["customer_reference"],
                notes=values["notes"],
                lines=[
                    invoices.LineInput(**row.cleaned_data)
                    for row in lines.filled_forms()
                ],
                actor=actor_of(request),
            )
        except DomainError as error:
            show_domain_error(error, form, lines.filled_forms())
            if error.field == "customer":
                customer_error = error.message
        else:
            return go_to(request, reverse("invoice", args=[invoice.pk]))
    return _invoice_form(
        request, form, lines, customer=customer, customer_error=customer_error
    )


@capability_required("bill")
def invoice_edit(request, pk):
    """Edit a draft: its dates, references and (a direct invoice's) lines."""
    invoice = get_object_or_404(invoice_detail(pk=pk))
    if invoice.status != Invoice.Status.DRAFT:
        return _invoice_page(
            request,
            invoice,
            action="edit",
            action_error=DomainError(
                "invalid_status",
                _("Invoice %(invoice)s is issued; only drafts change.")
                % {"invoice": invoice},
            ),
        )
    from_order = invoice.source == Invoice.Source.ORDER
    data = request.POST if request.method == "POST" else None
    # As a clerk types them: 2 and 19, not 2.000 and 19.000; prices in the currency.
    stored = [
        {
            "description": line.description,
            "quantity": _as_typed(line.quantity),
            "unit_price": quantize(line.unit_price, invoice.currency),
            "tax_rate": _as_typed(line.tax_rate),
        }
        for line in invoice.lines.all()
    ]
    if data is not None and is_row_edit(data) and not from_order:
        return _invoice_form(
            request,
            InvoiceForm(initial={n: data.get(n, "") for n in InvoiceForm.base_fields}),
            InvoiceLineFormSet(
                prefix="lines", initial=edited_rows(data, "lines", INVOICE_LINE_FIELDS)
            ),
            invoice=invoice,
        )
    form = InvoiceForm(
        data,
        initial={
            "invoice_date": invoice.invoice_date,
            "due_date": invoice.due_date,
            "customer_reference": invoice.customer_reference,
            "notes": invoice.notes,
        },
    )
    lines = (
        None if from_order else InvoiceLineFormSet(data, prefix="lines", initial=stored)
    )
    if data is None:
        return _invoice_form(request, form, lines, invoice=invoice)
    if form.is_valid() and (lines is None or lines.is_valid()):
        values = form.cleaned_data
        try:
            invoices.invoice_draft_update(
                invoice=invoice,
                invoice_date=values["invoice_date"],
                due_date=values["due_date"],
                customer_reference=values["customer_reference"],
                notes=values["notes"],
                lines=None
                if lines is None
                else [
                    invoices.LineInput(**row.cleaned_data)
                    for row in lines.filled_forms()
                ],
                actor=actor_of(request),
            )
        except DomainError as error:
            show_domain_error(error, form, lines.filled_forms() if lines else None)
        else:
            return go_to(request, reverse("invoice", args=[invoice.pk]))
    return _invoice_form(request, form, lines, invoice=invoice, refused=True)


def _invoice_form(
    request,
    form,
    lines,
    *,
    customer=None,
    invoice=None,
    customer_error="",
    refused=None,
):
    if refused is None:
        refused = form.is_bound
    response = render_htmx(
        request,
        "invoicing/invoice_form.html",
        "invoicing/_invoice_form.html",
        {
            "form": form,
            "lines": lines,
            "customer": invoice.customer if invoice else customer,
            "invoice": invoice,
            "customer_error": customer_error,
            "refused": refused,
            "message": getattr(form, "domain_error", "") or customer_error,
        },
    )
    if refused:
        response.status_code = 422
    return response


@capability_required("bill")
def order_invoice_create(request, pk):
    """Invoice an order's shipped, not yet invoiced quantities."""
    order = get_object_or_404(order_detail(pk=pk))
    invoiceable = [
        line
        for line in order.lines.all()
        if line.quantity_fulfilled > line.quantity_invoiced
    ]
    form = OrderInvoiceForm(
        request.POST or None,
        lines=invoiceable,
        initial={
            "invoice_date": request.organization.today(),
            **{
                f"bill_{line.pk}": _as_typed(
                    line.quantity_fulfilled - line.quantity_invoiced
                )
                for line in invoiceable
            },
        },
    )
    if request.method == "POST" and form.is_valid():
        chosen = form.chosen_lines()
        try:
            invoice = invoices.invoice_create_from_order(
                order=order,
                invoice_date=form.cleaned_data["invoice_date"],
                lines=chosen,
                notes=form.cleaned_data["notes"],
                actor=actor_of(request),
            )
        except DomainError as error:
            form.show_line_error(error, chosen)
        else:
            return go_to(request, reverse("invoice", args=[invoice.pk]))
    rows = [
        (
            line,
            line.quantity_fulfilled - line.quantity_invoiced,
            form[form.name_of(line)],
        )
        for line in invoiceable
    ]
    response = render_htmx(
        request,
        "invoicing/order_invoice_form.html",
        "invoicing/_order_invoice_form.html",
        {"order": order, "form": form, "rows": rows},
    )
    if form.is_bound:
        response.status_code = 422
    return response


def _as_typed(quantity: Decimal) -> Decimal:
    """6, not 6.000: a quantity as a clerk would type it (the input writes it in
    the organization's locale: 2.5 is 2,5 in de)."""
    if quantity == quantity.to_integral_value():
        return quantity.quantize(Decimal(1))
    return quantity.normalize()


@require_POST
@capability_required("bill")
def invoice_issue(request, pk):
    invoice = get_object_or_404(Invoice.objects, pk=pk)
    form = IssueForm(request.POST)
    form.is_valid()
    try:
        invoices.invoice_issue(
            invoice=invoice,
            actor=actor_of(request),
            email=form.cleaned_data.get("email", False),
        )
    except DomainError as error:
        invoice = get_object_or_404(invoice_detail(pk=pk))
        return _invoice_page(request, invoice, action="issue", action_error=error)
    return go_to(request, reverse("invoice", args=[invoice.pk]))


@require_POST
@capability_required("bill")
def invoice_void(request, pk):
    invoice = get_object_or_404(Invoice.objects, pk=pk)
    form = VoidForm(request.POST)
    if form.is_valid():
        try:
            invoices.invoice_void(
                invoice=invoice, actor=actor_of(request), **form.cleaned_data
            )
        except DomainError as error:
            show_domain_error(error, form)
        else:
            return go_to(request, reverse("invoice", args=[invoice.pk]))
    invoice = get_object_or_404(invoice_detail(pk=pk))
    return _invoice_page(
        request,
        invoice,
        action="void",
        action_error=DomainError(
            "invalid", getattr(form, "domain_error", "") or _first_error(form)
        ),
        void_form=form,
    )


def _first_error(form) -> str:
    for name, errors in form.errors.items():
        label = form.fields[name].label or name.replace("_", " ").capitalize()
        return f"{label}: {errors[0]}" if name != "__all__" else errors[0]
    return ""


@capability_required("bill")
def credit_note_create(request, pk):
    """Credit an issued invoice: an amount, or quantities of its lines."""
    invoice = get_object_or_404(invoice_detail(pk=pk))
    invoice_lines = list(invoice.lines.all())
    rates = {line.tax_rate for line in invoice_lines}
    form = CreditNoteForm(
        request.POST or None,
        lines=invoice_lines,
        initial={
            "credit_date": request.organization.today(),
            "tax_rate": _as_typed(rates.pop()) if len(rates) == 1 else None,
        },
    )
    if request.method == "POST" and form.is_valid():
        values = form.cleaned_data
        if values["mode"] == CreditNoteForm.AMOUNT:
            chosen = []
            lines = [
                invoices.LineInput(
                    description=values["reason"],
                    quantity=1,
                    unit_price=values["amount"],
                    tax_rate=values["tax_rate"],
                )
            ]
        else:
            chosen = form.chosen_lines()
            lines = [
                invoices.LineInput(
                    description=line.description,
                    quantity=quantity,
                    unit_price=line.unit_price,
                    tax_rate=line.tax_rate,
                )
                for line, quantity in chosen
            ]
        try:
            invoices.credit_note_create(
                invoice=invoice,
                credit_date=values["credit_date"],
                reason=values["reason"],
                lines=lines,
                actor=actor_of(request),
            )
        except DomainError as error:
            by_amount = values["mode"] == CreditNoteForm.AMOUNT
            if by_amount and (error.field or "").startswith("lines"):
                form.domain_error = error.message
                form.add_error("amount", error.message)
            else:
                form.show_line_error(error, chosen)
        else:
            return go_to(request, reverse("invoice", args=[invoice.pk]))
    rows = [(line, form[form.name_of(line)]) for line in invoice_lines]
    response = render_htmx(
        request,
        "invoicing/credit_note_form.html",
        "invoicing/_credit_note_form.html",
        {"invoice": invoice, "form": form, "rows": rows},
    )
    if form.is_bound:
        response.status_code = 422
    return response


@organization_required
def order_invoices_panel(request, pk):
    """Panel of the order page: the invoices billed from the order."""
    order = get_object_or_404(SalesOrder.objects, pk=pk)
    return render(
        request,
        "invoicing/_order_invoices.html",
        {"order": order, "invoices": order_invoices(order=order)},
    )


@organization_required
def invoice_pdf(request, pk):
    # Imported here: WeasyPrint is heavy and only this download needs it.
    from invoicing.documents import render_invoice_pdf

    invoice = get_object_or_404(Invoice.objects.select_related("customer"), pk=pk)
    name = invoice.number or f"draft-{invoice.pk}"
    return pdf_attachment(render_invoice_pdf(invoice), f"{name}.pdf")


@organization_required
def credit_note_pdf(request, pk):
    from invoicing.documents import render_credit_note_pdf

    credit_note = get_object_or_404(
        CreditNote.objects.select_related("customer", "invoice"), pk=pk
    )
    return pdf_attachment(
        render_credit_note_pdf(credit_note), f"{credit_note.number}.pdf"
    )
