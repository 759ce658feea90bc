"""Pages of the orders stage: the customer page and sales orders.

The customer page shows master data from here; its balances and invoices come from
``invoicing`` and its payments from ``reconciliation`` as htmx panels (``hx-get``
on their URL names), because this layer may not import the stages above it.
"""

from django import forms
from django.shortcuts import get_object_or_404, render

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
    OrderFilters,
    customer_detail,
    customer_recent_orders,
    keyset_page,
    order_amounts,
    order_detail,
    order_search,
)


@organization_required
def customer_detail_page(request, pk):
    customer = get_object_or_404(customer_detail(pk=pk))
    return render(
        request,
        "orders/customer_detail.html",
        {
            "customer": customer,
            "contacts": customer.contacts.all(),
            "orders": customer_recent_orders(customer=customer),
        },
    )


ORDER_SORTS = {
    "number": ["id"],
    "order_date": ["order_date", "id"],
}


class OrderFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100)
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *SalesOrder.Status.choices]
    )
    customer = forms.IntegerField(required=False, min_value=1)
    sort = forms.ChoiceField(required=False, choices=[(k, k) for k in ORDER_SORTS])
    dir = forms.ChoiceField(required=False, choices=DIRECTIONS)


@organization_required
def order_list(request):
    form, data = bound_filters(OrderFilterForm, request)
    customer = None
    if data.get("customer"):
        customer = Customer.objects.filter(pk=data["customer"]).first()
    orders = order_search(
        filters=OrderFilters(
            query=(data.get("q") or "").strip(),
            status=data.get("status") or "",
            customer_id=data.get("customer"),
        )
    )
    sort = data.get("sort") or "number"
    direction = data.get("dir") or "desc"
    page = keyset_page(
        orders,
        ordering=sort_ordering(ORDER_SORTS[sort], direction),
        cursor=request.GET.get("cursor", ""),
    )
    context = {
        "form": form,
        "page": page,
        "customer": customer,
        "sort": sort,
        "direction": direction,
        "filtered": is_filtered(data),
        "results_target": "#order-results",
    }
    if not is_htmx(request):
        context["statuses"] = SalesOrder.Status.choices
    return render_htmx(
        request, "orders/order_list.html", "orders/_order_results.html", context
    )


@organization_required
def order_detail_page(request, pk):
    order = get_object_or_404(order_detail(pk=pk))
    return render(
        request,
        "orders/order_detail.html",
        {"order": order, "amounts": order_amounts(order=order)},
    )
