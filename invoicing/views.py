"""Pages of the invoicing stage: the customer list with balances, invoices, PDFs,
and the panels invoicing contributes to customer, order and home pages."""

from io import BytesIO

from django import forms
from django.http import FileResponse
from django.shortcuts import get_object_or_404, render

from invoicing.models import CreditNote, Invoice
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
from o2c.views import (
    DIRECTIONS,
    bound_filters,
    is_filtered,
    is_htmx,
    organization_required,
    render_htmx,
    sort_ordering,
)
from orders.models import Customer, SalesOrder
from orders.selectors import (
    CustomerFilters,
    customer_currencies,
    customer_search,
    keyset_page,
)

# --- Customer and home panels ------------------------------------------------


@organization_required
def customer_account(request, pk):
    """Panel of the customer page: balances, open invoices, recently paid ones."""
    customer = get_object_or_404(Customer.objects, pk=pk)
    open_invoices = keyset_page(
        customer_open_invoices(customer=customer),
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
            "open_invoices": open_invoices,
            "paid_invoices": paid_invoices,
            "today": request.organization.today(),
        },
    )


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
            ("", "Any status"),
            (OUTSTANDING, "Outstanding (open or partially paid)"),
            *Invoice.Status.choices,
        ],
    )
    customer = forms.IntegerField(required=False, min_value=1)
    currency = forms.CharField(required=False, max_length=3)
    due_from = forms.DateField(required=False)
    due_to = forms.DateField(required=False)
    amount_min = forms.DecimalField(required=False, max_digits=18, decimal_places=3)
    amount_max = forms.DecimalField(required=False, max_digits=18, decimal_places=3)
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
    return render(
        request,
        "invoicing/invoice_detail.html",
        {"invoice": invoice, "today": request.organization.today()},
    )


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
    return _pdf_response(render_invoice_pdf(invoice), f"{name}.pdf")


@organization_required
def credit_note_pdf(request, pk):
    from invoicing.documents import render_credit_note_pdf

    credit_note = get_object_or_404(
        CreditNote.objects.select_related("customer", "invoice"), pk=pk
    )
    return _pdf_response(
        render_credit_note_pdf(credit_note), f"{credit_note.number}.pdf"
    )


def _pdf_response(pdf: bytes, filename: str) -> FileResponse:
    return FileResponse(
        BytesIO(pdf),
        as_attachment=True,
        filename=filename,
        content_type="application/pdf",
    )
