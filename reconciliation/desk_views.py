"""The cash desk's forms: record a payment with its allocations, apply a customer's
unapplied cash, reverse a payment or an allocation, write off an invoice's
remainder. The services decide; a refused input answers 422 with the form again,
the input kept, the service's message next to the input it names, nothing written.
"""

from decimal import Decimal

from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from invoicing.selectors import customer_open_invoices, invoice_detail
from o2c.errors import DomainError
from o2c.money import quantize
from o2c.numbers import NotANumber, parse_number
from o2c.roles import role_can
from o2c.views import (
    actor_of,
    capability_required,
    organization_required,
    render_htmx,
)
from orders.forms import show_domain_error, tenant_object
from orders.models import Customer
from orders.views import go_to
from reconciliation.forms import (
    ApplyCashForm,
    PaymentForm,
    PaymentReverseForm,
    WriteOffForm,
    oldest_first,
)
from reconciliation.models import Allocation, Payment
from reconciliation.selectors import (
    customer_unapplied_payments,
    payment_allocations,
    payment_applied_amount,
    payment_detail,
)
from reconciliation.services import payments


def _open_invoices(customer, currency: str) -> list:
    """The invoices the cash can go to, oldest due first (the suggestion's order)."""
    if customer is None or not currency:
        return []
    return list(
        customer_open_invoices(customer=customer)
        .filter(currency=currency)
        .order_by("due_date", "invoice_date", "id")
    )


def _typed_amount(text: str) -> Decimal | None:
    """The payment's amount as the clerk typed it (as the amount input reads it)."""
    try:
        return parse_number(text)
    except NotANumber:
        return None


# --- Record a payment ---------------------------------------------------------------


@capability_required("receive_cash")
def payment_create(request):
    data = request.POST if request.method == "POST" else None
    customer = tenant_object(
        Customer, (request.GET if data is None else data).get("customer")
    )
    if data is None:
        currency = customer.currency if customer else ""
        form = PaymentForm(
            invoices=_open_invoices(customer, currency),
            initial={
                "received_date": request.organization.today(),
                "currency": currency,
            },
        )
        return _payment_form(request, form, customer=customer, refused=False)
    currency = data.get("currency", "").strip().upper() or (
        customer.currency if customer else ""
    )
    invoices = _open_invoices(customer, currency)
    if "suggest" in data:
        # The clerk picked the customer or typed the amount: list the open
        # invoices and suggest where the cash goes, writing nothing.
        form = PaymentForm(
            invoices=invoices,
            initial={
                **{name: data.get(name, "") for name in PaymentForm.base_fields},
                "currency": currency,
                **{
                    PaymentForm.name_of(invoice): amount
                    for invoice, amount in _suggested(
                        invoices, _typed_amount(data.get("amount", ""))
                    )
                },
            },
        )
        return _payment_form(request, form, customer=customer, refused=False)
    form = PaymentForm(data, invoices=invoices)
    customer_error = "" if customer else _("Choose the customer.")
    if form.is_valid() and customer:
        values = form.cleaned_data
        chosen = form.chosen()
        try:
            payment = payments.payment_create(
                customer=customer,
                amount=values["amount"],
                currency=currency,
                received_date=values["received_date"],
                method=values["method"],
                reference=values["reference"],
                payer_name=values["payer_name"],
                allocations=[
                    payments.AllocationInput(
                        invoice=invoice,
                        amount=amount,
                        allocation_date=values["received_date"],
                    )
                    for invoice, amount in chosen
                ],
                actor=actor_of(request),
            )
        except DomainError as error:
            form.show_domain_error(error, chosen)
        else:
            return go_to(request, reverse("payment", args=[payment.pk]))
    return _payment_form(
        request, form, customer=customer, customer_error=customer_error
    )


def _suggested(invoices, amount):
    suggestion = oldest_first(invoices, amount)
    return [
        (invoice, suggestion[invoice.pk])
        for invoice in invoices
        if invoice.pk in suggestion
    ]


def _payment_form(request, form, *, customer, customer_error="", refused=True):
    response = render_htmx(
        request,
        "reconciliation/payment_form.html",
        "reconciliation/_payment_form.html",
        {
            "form": form,
            "customer": customer,
            "customer_error": customer_error,
            "refused": refused,
            "message": getattr(form, "domain_error", "") or customer_error,
        },
    )
    if refused:
        response.status_code = 422
    return response


# --- Apply unapplied cash -------------------------------------------------------------


@capability_required("receive_cash")
def apply_cash(request, pk):
    """Apply one of the customer's payments with cash on account to open invoices."""
    customer = get_object_or_404(Customer.objects, pk=pk)
    data = request.POST if request.method == "POST" else None
    unapplied = list(customer_unapplied_payments(customer=customer))
    payment = tenant_object(
        Payment, (request.GET if data is None else data).get("payment")
    )
    if payment is not None and payment.customer_id != customer.pk:
        raise Http404(f"Payment {payment} is not {customer.name}'s.")
    if payment is None and unapplied:
        payment = unapplied[0]
    invoices = _open_invoices(customer, payment.currency if payment else "")
    if data is None:
        form = ApplyCashForm(
            invoices=invoices,
            initial={
                "allocation_date": request.organization.today(),
                **{
                    ApplyCashForm.name_of(invoice): amount
                    for invoice, amount in _suggested(
                        invoices, payment.unapplied_amount if payment else None
                    )
                },
            },
        )
        return _apply_form(request, form, customer, payment, unapplied, False)
    form = ApplyCashForm(data, invoices=invoices)
    if form.is_valid() and payment is not None:
        chosen = form.chosen()
        if not chosen:
            form.domain_error = _("Enter the amount to apply to at least one invoice.")
            form.add_error(None, form.domain_error)
        else:
            try:
                with transaction.atomic():
                    # All the amounts or none: a refused one rolls back the others.
                    for index, (invoice, amount) in enumerate(chosen):
                        payments.allocation_create(
                            payment=payment,
                            invoice=invoice,
                            amount=amount,
                            allocation_date=form.cleaned_data["allocation_date"],
                            actor=actor_of(request),
                            field=f"allocations[{index}]",
                        )
            except DomainError as error:
                form.show_domain_error(error, chosen)
            else:
                return go_to(request, reverse("customer", args=[customer.pk]))
    return _apply_form(request, form, customer, payment, unapplied, True)


def _apply_form(request, form, customer, payment, unapplied, refused):
    response = render_htmx(
        request,
        "reconciliation/apply_cash_form.html",
        "reconciliation/_apply_cash_form.html",
        {
            "form": form,
            "customer": customer,
            "payment": payment,
            "unapplied": unapplied,
            "refused": refused,
            "message": getattr(form, "domain_error", ""),
        },
    )
    if refused:
        response.status_code = 422
    return response


# --- Reversals ------------------------------------------------------------------------


@require_POST
@capability_required("receive_cash")
def payment_reverse(request, pk):
    payment = get_object_or_404(Payment.objects, pk=pk)
    form = PaymentReverseForm(request.POST)
    if form.is_valid():
        try:
            payments.payment_reverse(
                payment=payment, actor=actor_of(request), **form.cleaned_data
            )
        except DomainError as error:
            show_domain_error(error, form)
        else:
            return go_to(request, reverse("payment", args=[payment.pk]))
    return payment_page(request, pk, reverse_form=form, status=422)


@require_POST
@capability_required("receive_cash")
def allocation_reverse(request, pk):
    """From the payment page or the invoice's settlements panel (``back``)."""
    allocation = get_object_or_404(Allocation.objects, pk=pk)
    back = (
        reverse("invoice", args=[allocation.invoice_id])
        if request.POST.get("back") == "invoice"
        else reverse("payment", args=[allocation.payment_id])
    )
    try:
        payments.allocation_reverse(allocation=allocation, actor=actor_of(request))
    except DomainError as error:
        return payment_page(
            request, allocation.payment_id, action_error=error.message, status=422
        )
    return go_to(request, back)


@organization_required
def payment_detail_page(request, pk):
    return payment_page(request, pk)


def payment_page(request, pk, *, reverse_form=None, action_error="", status=200):
    """The payment page, with the reversal form refused (422) when it was."""
    payment = get_object_or_404(payment_detail(pk=pk))
    return render(
        request,
        "reconciliation/payment_detail.html",
        {
            "payment": payment,
            "allocations": payment_allocations(payment=payment),
            "applied": payment_applied_amount(payment=payment),
            "can_receive_cash": role_can(request.membership.role, "receive_cash"),
            "reverse_form": reverse_form or PaymentReverseForm(),
            "action_error": action_error
            or getattr(reverse_form, "domain_error", "")
            or _first_error(reverse_form),
        },
        status=status,
    )


def _first_error(form) -> str:
    if form is None:
        return ""
    for name, errors in form.errors.items():
        if name == "__all__":
            return errors[0]
        label = form.fields[name].label or name.replace("_", " ").capitalize()
        return f"{label}: {errors[0]}"
    return ""


# --- Write-offs -----------------------------------------------------------------------


@capability_required("write_off")
def write_off_create(request, pk):
    invoice = get_object_or_404(invoice_detail(pk=pk))
    form = WriteOffForm(
        request.POST or None,
        initial={
            "amount": quantize(invoice.open_amount, invoice.currency),
            "write_off_date": request.organization.today(),
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            payments.write_off_create(
                invoice=invoice, actor=actor_of(request), **form.cleaned_data
            )
        except DomainError as error:
            show_domain_error(error, form)
        else:
            return go_to(request, reverse("invoice", args=[invoice.pk]))
    response = render_htmx(
        request,
        "reconciliation/write_off_form.html",
        "reconciliation/_write_off_form.html",
        {
            "invoice": invoice,
            "form": form,
            "limit": request.organization.write_off_limit,
            "refused": form.is_bound,
            "message": getattr(form, "domain_error", ""),
        },
    )
    if form.is_bound:
        response.status_code = 422
    return response
