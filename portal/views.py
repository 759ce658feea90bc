"""The customer portal's pages: thin views over the stages' services and
selectors. Access and tenancy: :mod:`portal.visit`."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from collecting.models import Dispute, PromiseToPay, Source
from collecting.selectors import paused_invoices
from collecting.services.commitments import dispute_open, promise_create
from invoicing.documents import render_credit_note_pdf, render_invoice_pdf
from invoicing.models import CreditNote, Invoice
from invoicing.portal import access_for_token, access_is_valid, access_mark_used
from invoicing.references import pay_to, payment_reference
from o2c.errors import DomainError
from o2c.models import Role
from o2c.money import quantize
from o2c.pages import logo_response
from o2c.services import Actor
from o2c.tenancy import tenant_context
from o2c.views import pdf_attachment
from portal import tasks
from portal.forms import (
    DisputeForm,
    PromiseForm,
    RemittanceForm,
    SignInForm,
    StatementForm,
)
from portal.qr import epc_qr_available, epc_qr_png
from portal.visit import (
    neutral,
    over_limit,
    portal_page,
    too_many,
    visit_end,
    visit_start,
)
from reconciliation.models import Payment
from reconciliation.services.remittance import remittance_advice_record
from reports.documents import statement_pdf
from reports.selectors.history import statement, statement_currencies

OPEN = (Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID)
PAID_SHOWN = 50


def _actor(request) -> Actor:
    customer = request.portal.customer
    return Actor(
        label=_("%(customer)s (customer portal)") % {"customer": customer.name},
        role=Role.VIEWER,
    )


# --- getting in -----------------------------------------------------------------------


def enter(request, token: str):
    """A link from an invoice email, a notice or a statement."""
    if over_limit(request, "token", "token"):
        return too_many(request)
    access = access_for_token(token)
    if access is None or access.single_use:
        return neutral(request)
    with tenant_context(access.organization):
        if not access_is_valid(access):
            return neutral(request)
        access_mark_used(access)
    visit_start(request, access)
    return redirect("portal:home")


@require_http_methods(["GET", "POST"])
def sign_in_link(request, token: str):
    """A single-use sign-in link. Opening it shows a button; only pressing it
    uses the link (mail scanners that follow links do not use it up)."""
    if over_limit(request, "token", "token"):
        return too_many(request)
    access = access_for_token(token)
    if access is None or not access.single_use:
        return neutral(request)
    with tenant_context(access.organization):
        if not access_is_valid(access):
            return neutral(request)
        if request.method == "GET":
            return render(
                request,
                "portal/sign_in_confirm.html",
                {"organization": access.organization},
            )
        if not access_mark_used(access):
            return neutral(request)
    visit_start(request, access)
    return redirect("portal:home")


@require_http_methods(["GET", "POST"])
def sign_in(request):
    """Ask for a sign-in link. The answer is the same whether the address is
    known or not; the lookup and the email happen in the background."""
    form = SignInForm(request.POST or None)
    sent = False
    if request.method == "POST":
        if over_limit(request, "sign-in", "sign_in"):
            return too_many(request)
        if form.is_valid():
            email = form.cleaned_data["email"].strip().lower()
            if not over_limit(
                request,
                "sign-in-address",
                "sign_in_address",
                key=lambda group, request: email,
            ):
                transaction.on_commit(lambda: tasks.send_sign_in_links.delay(email))
            sent = True
    return render(request, "portal/sign_in.html", {"form": form, "sent": sent})


@require_POST
def sign_out(request):
    visit_end(request)
    return render(request, "portal/signed_out.html")


# --- the account ----------------------------------------------------------------------


@portal_page
def home(request):
    visit = request.portal
    customer = visit.customer
    open_invoices = list(
        Invoice.objects.filter(customer=customer, status__in=OPEN).order_by(
            "due_date", "pk"
        )
    )
    paused = paused_invoices(invoice_ids=[invoice.pk for invoice in open_invoices])
    today = visit.organization.today()
    totals: dict[str, object] = {}
    for invoice in open_invoices:
        invoice.paused = paused.get(invoice.pk, "")
        invoice.overdue = invoice.due_date < today
        totals[invoice.currency] = totals.get(invoice.currency, 0) + invoice.open_amount
    paid_invoices = Invoice.objects.filter(
        customer=customer, status=Invoice.Status.PAID
    ).order_by("-invoice_date", "-pk")[:PAID_SHOWN]
    credit_notes = CreditNote.objects.filter(
        customer=customer, status=CreditNote.Status.ISSUED
    ).order_by("-credit_date", "-pk")[:PAID_SHOWN]
    payments = Payment.objects.filter(
        customer=customer, status=Payment.Status.RECEIVED
    ).order_by("-received_date", "-pk")[:PAID_SHOWN]
    currencies = statement_currencies(customer=customer)
    statement_form = StatementForm(
        initial={
            "start": today.replace(day=1, month=1),
            "end": today,
            "currency": customer.currency,
        },
        currencies=currencies,
    )
    return render(
        request,
        "portal/home.html",
        {
            "visit": visit,
            "open_invoices": open_invoices,
            "paid_invoices": paid_invoices,
            "credit_notes": credit_notes,
            "payments": payments,
            "totals": sorted(totals.items()),
            "statement_form": statement_form,
        },
    )


def _invoice_of(request, pk: int) -> Invoice | None:
    return (
        Invoice.objects.filter(
            pk=pk, customer=request.portal.customer, status__in=Invoice.ISSUED
        )
        .select_related("customer")
        .first()
    )


@portal_page
def invoice_detail(request, pk: int):
    invoice = _invoice_of(request, pk)
    if invoice is None:
        return neutral(request)
    return _invoice_page(request, invoice)


def _invoice_page(
    request, invoice, *, dispute_form=None, promise_form=None, status=200
):
    visit = request.portal
    today = visit.organization.today()
    lines = list(invoice.lines.order_by("position"))
    is_open = invoice.status in OPEN
    paused = (
        paused_invoices(invoice_ids=[invoice.pk]).get(invoice.pk, "") if is_open else ""
    )
    reference = payment_reference(invoice)
    account = pay_to()
    context = {
        "visit": visit,
        "invoice": invoice,
        "lines": lines,
        "is_open": is_open,
        "overdue": is_open and invoice.due_date < today,
        "paused": paused,
        "reference": reference,
        "pay_to": account,
        "show_qr": visit.settings.offer_pay
        and is_open
        and epc_qr_available(
            currency=invoice.currency,
            amount=invoice.open_amount,
            pay_to=account,
            reference=reference,
        ),
        "open_disputes": Dispute.objects.filter(
            invoices=invoice, status=Dispute.Status.OPEN
        ),
        "active_promises": PromiseToPay.objects.filter(
            invoices=invoice, status=PromiseToPay.Status.ACTIVE
        ),
        "credit_notes": invoice.credit_notes.filter(status=CreditNote.Status.ISSUED),
    }
    if is_open and visit.settings.offer_dispute and paused != "disputed":
        context["dispute_form"] = dispute_form or DisputeForm(lines=lines)
    if is_open and visit.settings.offer_promise and not paused:
        context["promise_form"] = promise_form or PromiseForm(
            initial={"amount": quantize(invoice.open_amount, invoice.currency)},
            today=today,
            window_days=visit.settings.promise_window_days,
        )
    return render(request, "portal/invoice.html", context, status=status)


@portal_page
def invoice_pdf(request, pk: int):
    invoice = _invoice_of(request, pk)
    if invoice is None:
        return neutral(request)
    return pdf_attachment(render_invoice_pdf(invoice), f"{invoice.number}.pdf")


@portal_page
def credit_note_pdf(request, pk: int):
    credit_note = CreditNote.objects.filter(
        pk=pk, customer=request.portal.customer, status=CreditNote.Status.ISSUED
    ).first()
    if credit_note is None:
        return neutral(request)
    return pdf_attachment(
        render_credit_note_pdf(credit_note), f"{credit_note.number}.pdf"
    )


@portal_page
def invoice_qr(request, pk: int):
    invoice = _invoice_of(request, pk)
    account = pay_to()
    reference = payment_reference(invoice) if invoice else ""
    if (
        invoice is None
        or invoice.status not in OPEN
        or not request.portal.settings.offer_pay
        or not epc_qr_available(
            currency=invoice.currency,
            amount=invoice.open_amount,
            pay_to=account,
            reference=reference,
        )
    ):
        return neutral(request)
    png = epc_qr_png(pay_to=account, amount=invoice.open_amount, reference=reference)
    return HttpResponse(png, content_type="image/png")


@portal_page
def statement_download(request):
    customer = request.portal.customer
    form = StatementForm(
        request.GET, currencies=statement_currencies(customer=customer)
    )
    if not form.is_valid():
        messages.error(
            request,
            _("Choose a period for the statement: %(errors)s")
            % {
                "errors": " ".join(
                    str(e) for errors in form.errors.values() for e in errors
                )
            },
        )
        return redirect("portal:home")
    try:
        the_statement = statement(
            customer=customer,
            start=form.cleaned_data["start"],
            end=form.cleaned_data["end"],
            currency=form.cleaned_data["currency"],
        )
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("portal:home")
    name = f"statement-{customer.number}-{form.cleaned_data['end'].isoformat()}.pdf"
    return pdf_attachment(statement_pdf(the_statement), name)


@portal_page
def logo(request):
    """The organization's logo for its customers, with the headers the staff
    side sends (an SVG runs nothing, the type is not sniffed)."""
    organization = request.portal.organization
    if not organization.logo:
        return neutral(request)
    return logo_response(organization)


# --- answering ------------------------------------------------------------------------


@require_POST
@portal_page
def dispute(request, pk: int):
    visit = request.portal
    invoice = _invoice_of(request, pk)
    if invoice is None or not visit.settings.offer_dispute:
        return neutral(request)
    lines = list(invoice.lines.order_by("position"))
    form = DisputeForm(request.POST, request.FILES, lines=lines)
    if not form.is_valid():
        return _invoice_page(request, invoice, dispute_form=form, status=422)
    chosen = {int(pk) for pk in form.cleaned_data["lines"]}
    try:
        dispute_open(
            customer=visit.customer,
            invoices=[invoice],
            reason_code=form.cleaned_data["reason"],
            description=form.cleaned_data["message"],
            lines=[line for line in lines if line.pk in chosen],
            attachment=form.cleaned_data["attachment"],
            source=Source.PORTAL,
            actor=_actor(request),
        )
    except DomainError as error:
        form.add_error(None, error.message)
        return _invoice_page(request, invoice, dispute_form=form, status=422)
    messages.success(
        request,
        _(
            "Thank you. We have your dispute of invoice %(number)s and stopped "
            "reminders for it while we look into it."
        )
        % {"number": invoice.number},
    )
    return redirect("portal:invoice", pk=invoice.pk)


@require_POST
@portal_page
def promise(request, pk: int):
    visit = request.portal
    invoice = _invoice_of(request, pk)
    if invoice is None or not visit.settings.offer_promise:
        return neutral(request)
    form = PromiseForm(
        request.POST,
        today=visit.organization.today(),
        window_days=visit.settings.promise_window_days,
    )
    if not form.is_valid():
        return _invoice_page(request, invoice, promise_form=form, status=422)
    try:
        promise_create(
            customer=visit.customer,
            invoices=[invoice],
            amount=form.cleaned_data["amount"],
            promised_date=form.cleaned_data["promised_date"],
            source=Source.PORTAL,
            actor=_actor(request),
        )
    except DomainError as error:
        form.add_error(
            error.field if error.field in form.fields else None, error.message
        )
        return _invoice_page(request, invoice, promise_form=form, status=422)
    messages.success(
        request,
        _("Thank you. We have noted your payment of invoice %(number)s on %(date)s.")
        % {
            "number": invoice.number,
            "date": form.cleaned_data["promised_date"].isoformat(),
        },
    )
    return redirect("portal:invoice", pk=invoice.pk)


@require_http_methods(["GET", "POST"])
@portal_page
def remittance(request):
    visit = request.portal
    if not visit.settings.offer_remittance:
        return neutral(request)
    invoices = list(
        Invoice.objects.filter(customer=visit.customer, status__in=OPEN).order_by(
            "due_date", "pk"
        )
    )
    form = RemittanceForm(
        request.POST or None,
        invoices=invoices,
        initial={"paid_on": visit.organization.today()},
    )
    if request.method == "POST" and form.is_valid():
        chosen = {int(pk) for pk in form.cleaned_data["invoices"]}
        try:
            remittance_advice_record(
                customer=visit.customer,
                invoices=[invoice for invoice in invoices if invoice.pk in chosen],
                amount=form.cleaned_data["amount"],
                paid_on=form.cleaned_data["paid_on"],
                reference=form.cleaned_data["reference"],
                note=form.cleaned_data["note"],
                actor=_actor(request),
            )
        except DomainError as error:
            form.add_error(
                error.field if error.field in form.fields else None, error.message
            )
        else:
            messages.success(
                request,
                _("Thank you. We will match your transfer to these invoices."),
            )
            return redirect("portal:home")
    status = 422 if request.method == "POST" else 200
    return render(
        request,
        "portal/remittance.html",
        {"visit": visit, "form": form, "has_invoices": bool(invoices)},
        status=status,
    )
