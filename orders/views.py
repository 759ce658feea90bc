"""Pages of the orders stage: the customer page, sales orders and their forms.

The customer page shows master data from here; its balances and invoices come from
``invoicing`` and its payments from ``reconciliation`` as htmx panels (``hx-get``
on their URL names), because this layer may not import the stages above it.

The forms call the same services as the API. A refused input answers 422 with the
form again, the input kept and the service's message next to the field it names;
the service's transaction has rolled back, so nothing was written.
"""

from django import forms
from django.db import transaction
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from o2c.errors import DomainError
from o2c.roles import role_can
from o2c.views import (
    DIRECTIONS,
    actor_of,
    bound_filters,
    capability_required,
    is_filtered,
    is_htmx,
    organization_required,
    render_htmx,
    sort_ordering,
)
from orders.forms import (
    LANGUAGES,
    ORDER_LINE_FIELDS,
    ConfirmForm,
    ContactForm,
    CustomerForm,
    OrderForm,
    OrderLineFormSet,
    PaymentTermForm,
    ReasonForm,
    ShipmentForm,
    customer_initial,
    edited_rows,
    is_row_edit,
    show_domain_error,
    tenant_object,
)
from orders.models import Customer, Fulfillment, Item, PaymentTerm, SalesOrder
from orders.selectors import (
    CustomerFilters,
    OrderFilters,
    customer_detail,
    customer_recent_orders,
    customer_search,
    keyset_page,
    order_amounts,
    order_detail,
    order_search,
)
from orders.services import master
from orders.services import orders as selling

PICKER_RESULTS = 10
CATALOG_RESULTS = 20


def go_to(request, url: str):
    """After a saved form: a redirect, which htmx must be told to follow as a page
    (a plain 302 would be swapped into the form)."""
    if is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def refused(request, template: str, partial: str, context: dict):
    """The form again with its errors: 422, which htmx swaps in like a 200."""
    response = render_htmx(request, template, partial, context)
    response.status_code = 422
    return response


# --- Customers ----------------------------------------------------------------------


@organization_required
def customer_detail_page(request, pk):
    customer = get_object_or_404(customer_detail(pk=pk))
    return render(
        request,
        "orders/customer_detail.html",
        {
            "customer": customer,
            "contacts": customer.contacts.all(),
            "contact_form": ContactForm(prefix="new-contact"),
            "can_edit": role_can(request.membership.role, "manage_customers"),
            "can_sell": role_can(request.membership.role, "sell"),
            "can_bill": role_can(request.membership.role, "bill"),
            "can_collect": role_can(request.membership.role, "collect"),
            "orders": customer_recent_orders(customer=customer),
        },
    )


@capability_required("manage_customers")
def customer_create(request):
    form = CustomerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                customer = master.customer_create(
                    actor=actor_of(request), **form.master_data()
                )
                if form.cleaned_data["on_credit_hold"]:
                    master.customer_set_credit_hold(
                        customer=customer,
                        on_hold=True,
                        reason=form.cleaned_data["credit_hold_reason"],
                        actor=actor_of(request),
                    )
        except DomainError as error:
            show_domain_error(error, form)
        else:
            return go_to(request, reverse("customer", args=[customer.pk]))
    return _customer_form(request, form, customer=None)


@capability_required("manage_customers")
def customer_edit(request, pk):
    customer = get_object_or_404(Customer.objects, pk=pk)
    form = CustomerForm(request.POST or None, initial=customer_initial(customer))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                master.customer_update(
                    customer=customer, actor=actor_of(request), **form.master_data()
                )
                master.customer_set_credit_hold(
                    customer=customer,
                    on_hold=data["on_credit_hold"],
                    reason=data["credit_hold_reason"],
                    actor=actor_of(request),
                )
        except DomainError as error:
            show_domain_error(error, form)
        else:
            return go_to(request, reverse("customer", args=[customer.pk]))
    return _customer_form(request, form, customer=customer)


def _customer_form(request, form, *, customer):
    context = {"form": form, "customer": customer, "languages": LANGUAGES}
    if form.is_bound:
        return refused(
            request, "orders/customer_form.html", "orders/_customer_form.html", context
        )
    return render_htmx(
        request, "orders/customer_form.html", "orders/_customer_form.html", context
    )


@organization_required
def customer_picker(request):
    """Customers by name or number for a form's customer field: a few, never all."""
    query = request.GET.get("q", "").strip()
    customers = []
    if query:
        customers = list(
            customer_search(filters=CustomerFilters(query=query))
            .only("pk", "name", "number", "currency")
            .order_by("name", "pk")[:PICKER_RESULTS]
        )
    return render(
        request,
        "orders/_customer_choices.html",
        {"customers": customers, "query": query, "limit": PICKER_RESULTS},
    )


@organization_required
def customer_picked(request):
    """The picker with a customer chosen (its id in the hidden input)."""
    customer = tenant_object(Customer, request.GET.get("customer"))
    return render(request, "orders/_customer_picker.html", {"customer": customer})


# --- Contacts -----------------------------------------------------------------------


def _contacts_panel(request, customer, *, new_form=None, editing=None, status=200):
    response = render(
        request,
        "orders/_contacts.html",
        {
            "customer": customer,
            "contacts": customer.contacts.all(),
            "contact_form": new_form or ContactForm(prefix="new-contact"),
            "editing": editing,
            "can_edit": True,
        },
    )
    response.status_code = status
    return response


@require_POST
@capability_required("manage_customers")
def contact_add(request, pk):
    customer = get_object_or_404(Customer.objects, pk=pk)
    form = ContactForm(request.POST, prefix="new-contact")
    if form.is_valid():
        master.contact_create(
            customer=customer, actor=actor_of(request), **form.cleaned_data
        )
        return _contacts_panel(request, customer)
    return _contacts_panel(request, customer, new_form=form, status=422)


@capability_required("manage_customers")
def contact_edit(request, pk, contact_pk):
    customer = get_object_or_404(Customer.objects, pk=pk)
    contact = get_object_or_404(customer.contacts, pk=contact_pk)
    form = ContactForm(
        request.POST or None, instance=contact, prefix=f"contact-{contact.pk}"
    )
    if request.method == "POST":
        if form.is_valid():
            try:
                master.contact_update(
                    contact=contact, actor=actor_of(request), **form.cleaned_data
                )
            except DomainError as error:
                show_domain_error(error, form)
            else:
                return _contacts_panel(request, customer)
        return _contacts_panel(request, customer, editing=form, status=422)
    return _contacts_panel(request, customer, editing=form)


@require_POST
@capability_required("manage_customers")
def contact_remove(request, pk, contact_pk):
    customer = get_object_or_404(Customer.objects, pk=pk)
    contact = get_object_or_404(customer.contacts, pk=contact_pk)
    master.contact_remove(contact=contact, actor=actor_of(request))
    return _contacts_panel(request, customer)


# --- Payment terms (Settings) -------------------------------------------------------


@organization_required
def payment_terms_page(request):
    return render(request, "orders/payment_terms.html", _terms_context(request))


def _terms_context(request, *, new_form=None, editing=None) -> dict:
    return {
        "terms": PaymentTerm.objects.annotate(
            customer_count=Count("customers")
        ).order_by("name"),
        "term_form": new_form or PaymentTermForm(prefix="new-term"),
        "editing": editing,
        "can_edit": role_can(request.membership.role, "manage_customers"),
    }


def _terms_panel(request, *, status=200, **forms_):
    response = render(
        request, "orders/_payment_terms.html", _terms_context(request, **forms_)
    )
    response.status_code = status
    return response


@require_POST
@capability_required("manage_customers")
def payment_term_create(request):
    form = PaymentTermForm(request.POST, prefix="new-term")
    if form.is_valid():
        try:
            with transaction.atomic():
                master.payment_term_create(actor=actor_of(request), **form.term_data())
        except DomainError as error:
            show_domain_error(error, form)
        else:
            return _terms_panel(request)
    return _terms_panel(request, new_form=form, status=422)


@capability_required("manage_customers")
def payment_term_edit(request, pk):
    term = get_object_or_404(PaymentTerm.objects, pk=pk)
    form = PaymentTermForm(
        request.POST or None, instance=term, prefix=f"term-{term.pk}"
    )
    if request.method != "POST":
        return _terms_panel(request, editing=form)
    if form.is_valid():
        try:
            with transaction.atomic():
                master.payment_term_update(
                    term=term, actor=actor_of(request), **form.term_data()
                )
        except DomainError as error:
            show_domain_error(error, form)
        else:
            return _terms_panel(request)
    return _terms_panel(request, editing=form, status=422)


ORDER_SORTS = {
    "number": ["id"],
    "order_date": ["order_date", "id"],
}


class OrderFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100)
    status = forms.ChoiceField(
        required=False,
        choices=[("", gettext_lazy("Any status")), *SalesOrder.Status.choices],
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
        context["can_sell"] = role_can(request.membership.role, "sell")
    return render_htmx(
        request, "orders/order_list.html", "orders/_order_results.html", context
    )


@organization_required
def order_detail_page(request, pk):
    order = get_object_or_404(order_detail(pk=pk))
    return _order_page(request, order)


def _order_page(request, order, *, action_error=None, action="", status=200):
    """The order with its actions; a refused action shows its message on top."""
    response = render(
        request,
        "orders/order_detail.html",
        {
            "order": order,
            "amounts": order_amounts(order=order),
            "can_sell": role_can(request.membership.role, "sell"),
            "can_bill": role_can(request.membership.role, "bill"),
            "action_error": action_error,
            "action": action,
            "can_ship": order.status
            in (SalesOrder.Status.CONFIRMED, SalesOrder.Status.PARTIALLY_FULFILLED),
        },
    )
    response.status_code = status
    return response


@organization_required
def catalog_options(request):
    """Catalog items matching what the clerk typed, as ``<option>``s of the line
    table's datalist: a few at a time, the catalog may be large."""
    # The line's own input sends itself (``lines-3-item``).
    typed = [value for key, value in request.GET.items() if key.endswith("item")]
    query = (typed[0] if typed else "").strip()
    items = Item.objects.filter(active=True)
    if query:
        items = items.filter(sku__istartswith=query) | items.filter(
            name__icontains=query
        )
    return render(
        request,
        "orders/_catalog_options.html",
        {"items": items.order_by("sku")[:CATALOG_RESULTS]},
    )


@capability_required("sell")
def order_create(request):
    data = request.POST if request.method == "POST" else None
    if data is not None:
        customer = tenant_object(Customer, data.get("customer"))
    else:
        customer = tenant_object(Customer, request.GET.get("customer"))
    if data is not None and is_row_edit(data):
        rows = edited_rows(data, "lines", ORDER_LINE_FIELDS)
        form = OrderForm(initial=_header_values(data, OrderForm))
        lines = OrderLineFormSet(prefix="lines", initial=rows)
        return _order_form(request, form, lines, customer)
    form = OrderForm(data, initial={"order_date": request.organization.today()})
    lines = OrderLineFormSet(data, prefix="lines", initial=[{}, {}])
    if data is None:
        return _order_form(request, form, lines, customer)
    customer_error = "" if customer else _("Choose the customer.")
    if form.is_valid() and lines.is_valid() and customer:
        try:
            order = selling.order_create(
                customer=customer,
                actor=actor_of(request),
                lines=[
                    selling.OrderLineInput(**row.cleaned_data)
                    for row in lines.filled_forms()
                ],
                **{
                    **form.cleaned_data,
                    "currency": form.cleaned_data["currency"].strip() or None,
                },
            )
        except DomainError as error:
            show_domain_error(error, form, lines.filled_forms())
            if error.field == "customer":
                customer_error = error.message
        else:
            return go_to(request, reverse("order", args=[order.pk]))
    return _order_form(
        request, form, lines, customer, customer_error=customer_error, status=422
    )


def _header_values(data, form_class) -> dict:
    return {name: data.get(name, "") for name in form_class.base_fields}


def _order_form(request, form, lines, customer, *, customer_error="", status=200):
    response = render_htmx(
        request,
        "orders/order_form.html",
        "orders/_order_form.html",
        {
            "form": form,
            "lines": lines,
            "customer": customer,
            "customer_error": customer_error,
            "refused": status == 422,
            "message": getattr(form, "domain_error", "") or customer_error,
        },
    )
    response.status_code = status
    return response


@require_POST
@capability_required("sell")
def order_confirm(request, pk):
    order = get_object_or_404(SalesOrder.objects, pk=pk)
    form = ConfirmForm(request.POST)
    form.is_valid()
    try:
        selling.order_confirm(
            order=order,
            actor=actor_of(request),
            override_credit_check=form.cleaned_data.get("override_credit_check", False),
        )
    except DomainError as error:
        order = get_object_or_404(order_detail(pk=pk))
        return _order_page(
            request, order, action_error=error, action="confirm", status=422
        )
    return go_to(request, reverse("order", args=[order.pk]))


@require_POST
@capability_required("sell")
def order_cancel(request, pk):
    order = get_object_or_404(SalesOrder.objects, pk=pk)
    form = ReasonForm(request.POST)
    form.is_valid()
    try:
        selling.order_cancel(
            order=order,
            actor=actor_of(request),
            reason=form.cleaned_data.get("reason", ""),
        )
    except DomainError as error:
        order = get_object_or_404(order_detail(pk=pk))
        return _order_page(
            request, order, action_error=error, action="cancel", status=422
        )
    return go_to(request, reverse("order", args=[order.pk]))


# --- Shipments ----------------------------------------------------------------------


@capability_required("sell")
def shipment_create(request, pk):
    order = get_object_or_404(order_detail(pk=pk))
    open_lines = [
        line for line in order.lines.all() if line.quantity_fulfilled < line.quantity
    ]
    form = ShipmentForm(
        request.POST or None,
        order_lines=open_lines,
        initial={"shipped_date": request.organization.today()},
    )
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            shipped = form.shipped_lines()
            try:
                selling.fulfillment_create(
                    order=order,
                    lines=shipped,
                    shipped_date=form.cleaned_data["shipped_date"],
                    carrier=form.cleaned_data["carrier"],
                    tracking_number=form.cleaned_data["tracking_number"],
                    actor=actor_of(request),
                )
            except DomainError as error:
                _show_shipment_error(error, form, shipped)
            else:
                return go_to(request, reverse("order", args=[order.pk]))
    rows = [
        (line, line.quantity - line.quantity_fulfilled, form.quantity_field(line))
        for line in open_lines
    ]
    response = render_htmx(
        request,
        "orders/shipment_form.html",
        "orders/_shipment_form.html",
        {"order": order, "form": form, "rows": rows},
    )
    response.status_code = status
    return response


def _show_shipment_error(error: DomainError, form, shipped) -> None:
    """``lines[i]`` of the service is the i-th line given a quantity."""
    form.domain_error = error.message
    for index, (line, _quantity) in enumerate(shipped):
        if (error.field or "").startswith(f"lines[{index}]"):
            form.add_error(f"ship_{line.pk}", error.message)
            return
    form.add_error(None, error.message)


@require_POST
@capability_required("sell")
def fulfillment_deliver(request, pk):
    fulfillment = get_object_or_404(Fulfillment.objects, pk=pk)
    try:
        selling.fulfillment_deliver(fulfillment=fulfillment, actor=actor_of(request))
    except DomainError as error:
        order = get_object_or_404(order_detail(pk=fulfillment.order_id))
        return _order_page(
            request, order, action_error=error, action="deliver", status=422
        )
    return go_to(request, reverse("order", args=[fulfillment.order_id]))
