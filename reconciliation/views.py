"""Pages of the reconciliation stage: the customer list (balances net unapplied
cash), payments, and the panels it contributes to the customer page (payments,
unapplied cash) and the invoice page (settlements)."""

from django import forms
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext_lazy as _

from invoicing.models import Invoice
from invoicing.services.summary import summary_refresh
from o2c.dates import OrgDateField
from o2c.roles import role_can
from o2c.views import (
    DIRECTIONS,
    bound_filters,
    is_filtered,
    is_htmx,
    organization_required,
    render_htmx,
    sort_ordering,
)
from orders.models import Customer
from orders.selectors import (
    CustomerFilters,
    customer_currencies,
    customer_filter_choices,
    customer_search,
    keyset_page,
)
from reconciliation.models import Payment
from reconciliation.selectors import (
    PaymentFilters,
    customer_payments,
    customer_unapplied_payments,
    customers_by_amount,
    customers_with_balances,
    invoice_allocations,
    invoice_write_offs,
    other_currency_balances,
    payment_search,
)

# --- Customers ------------------------------------------------------------------

CUSTOMER_SORTS = {
    "name": ["name", "id"],
    "number": ["number", "id"],
    "balance": ["currency", "balance", "id"],
    "overdue": ["currency", "overdue", "id"],
}
AMOUNT_SORTS = {"balance", "overdue"}


class CustomerFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100)
    segment = forms.CharField(required=False, max_length=50)
    collector = forms.IntegerField(required=False, min_value=1)
    hold = forms.ChoiceField(
        required=False,
        choices=[
            ("", _("Any")),
            ("yes", _("On credit hold")),
            ("no", _("Not on hold")),
        ],
    )
    currency = forms.CharField(required=False, max_length=3)
    sort = forms.ChoiceField(required=False, choices=[(k, k) for k in CUSTOMER_SORTS])
    dir = forms.ChoiceField(required=False, choices=DIRECTIONS)


@organization_required
def customer_list(request):
    """Customers with balance and overdue; here because the balance nets the
    unapplied cash of payments."""
    form, data = bound_filters(CustomerFilterForm, request)
    hold = data.get("hold")
    customers = customer_search(
        filters=CustomerFilters(
            query=(data.get("q") or "").strip(),
            segment=data.get("segment") or "",
            collector_id=data.get("collector"),
            on_credit_hold={"yes": True, "no": False}.get(hold),
            currency=(data.get("currency") or "").upper(),
        )
    )
    sort = data.get("sort") or "name"
    direction = data.get("dir") or "asc"
    ordering = sort_ordering(CUSTOMER_SORTS[sort], direction, grouped_by={"currency"})
    cursor = request.GET.get("cursor", "")
    summary_refresh()
    listed = customers.select_related("collector", "payment_term")
    if sort in AMOUNT_SORTS:
        page = customers_by_amount(listed, ordering=ordering, cursor=cursor)
    else:
        page = keyset_page(
            customers_with_balances(listed), ordering=ordering, cursor=cursor
        )
    others = other_currency_balances(customers=page.rows)
    for customer in page.rows:
        customer.other_balances = others.get(customer.pk, [])
    context = {
        "form": form,
        "page": page,
        "count": customers.count(),
        "sort": sort,
        "direction": direction,
        "filtered": is_filtered(data),
        "results_target": "#customer-results",
    }
    if not is_htmx(request):
        context["choices"] = customer_filter_choices()
    return render_htmx(
        request,
        "reconciliation/customer_list.html",
        "reconciliation/_customer_results.html",
        context,
    )


# --- Payments -------------------------------------------------------------------


class PaymentFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100)
    status = forms.ChoiceField(
        required=False, choices=[("", _("Any status")), *Payment.Status.choices]
    )
    customer = forms.IntegerField(required=False, min_value=1)
    currency = forms.CharField(required=False, max_length=3)
    received_from = OrgDateField(required=False)
    received_to = OrgDateField(required=False)
    unapplied = forms.BooleanField(required=False)


@organization_required
def payment_list(request):
    form, data = bound_filters(PaymentFilterForm, request)
    customer = None
    if data.get("customer"):
        customer = Customer.objects.filter(pk=data["customer"]).first()
    payments = payment_search(
        filters=PaymentFilters(
            query=(data.get("q") or "").strip(),
            status=data.get("status") or "",
            customer_id=data.get("customer"),
            currency=(data.get("currency") or "").upper(),
            received_from=data.get("received_from"),
            received_to=data.get("received_to"),
            unapplied_only=bool(data.get("unapplied")),
        )
    )
    page = keyset_page(
        payments,
        ordering=["-received_date", "-id"],
        cursor=request.GET.get("cursor", ""),
    )
    context = {
        "form": form,
        "page": page,
        "customer": customer,
        "filtered": is_filtered(data),
        "results_target": "#payment-results",
        "can_receive_cash": role_can(request.membership.role, "receive_cash"),
    }
    if not is_htmx(request):
        context["statuses"] = Payment.Status.choices
        context["currencies"] = customer_currencies()
    return render_htmx(
        request,
        "reconciliation/payment_list.html",
        "reconciliation/_payment_results.html",
        context,
    )


@organization_required
def customer_payments_panel(request, pk):
    """Panel of the customer page: cash on account to apply, and recent payments."""
    customer = get_object_or_404(Customer.objects, pk=pk)
    return render(
        request,
        "reconciliation/_customer_payments.html",
        {
            "customer": customer,
            "can_receive_cash": role_can(request.membership.role, "receive_cash"),
            "unapplied": customer_unapplied_payments(customer=customer),
            "payments": keyset_page(
                customer_payments(customer=customer),
                ordering=["-received_date", "-id"],
                cursor=request.GET.get("cursor", ""),
                page_size=10,
            ),
        },
    )


@organization_required
def invoice_settlements_panel(request, pk):
    """Panel of the invoice page: payments applied to it and write-offs."""
    invoice = get_object_or_404(Invoice.objects, pk=pk)
    return render(
        request,
        "reconciliation/_invoice_settlements.html",
        {
            "invoice": invoice,
            "can_receive_cash": role_can(request.membership.role, "receive_cash"),
            "can_write_off": role_can(request.membership.role, "write_off"),
            "allocations": invoice_allocations(invoice=invoice),
            "write_offs": invoice_write_offs(invoice=invoice),
        },
    )
