"""The invoice email's editor: its text per language with a live preview for a
real customer, rendered by :func:`invoice_email_render` as the sending does."""

from __future__ import annotations

from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from invoicing.models import Invoice
from invoicing.services import email_text
from o2c.errors import DomainError
from o2c.text_editor import (
    EditorPage,
    active_language,
    error_input,
    typed_texts,
)
from o2c.views import actor_of, capability_required, is_htmx, organization_required
from orders.forms import tenant_object
from orders.models import Customer
from orders.selectors import CustomerFilters, customer_search

PREVIEW_CUSTOMERS = 10


@organization_required
@require_GET
def preview_customers(request):
    """Options of the preview's customer list: the customers a search finds."""
    query = request.GET.get("q", "").strip()
    customers = _customers(query)
    response = render(
        request,
        "o2c/_preview_customers.html",
        {"customers": customers, "customer": customers[0] if customers else None},
    )
    response["HX-Trigger"] = "customers-found"
    return response


def _customers(query: str = "") -> list[Customer]:
    found = customer_search(filters=CustomerFilters(query=query)) if query else None
    customers = found if found is not None else Customer.objects.all()
    return list(
        customers.only("pk", "name", "number").order_by("name", "pk")[
            :PREVIEW_CUSTOMERS
        ]
    )


def _page(request, *, texts, active="en", errors=None, message="") -> EditorPage:
    return EditorPage(
        title=_("Invoice email"),
        back_url=reverse("invoices"),
        back_label=_("Invoices"),
        save_url=reverse("invoice-email-texts"),
        preview_url=reverse("invoice-email-preview"),
        placeholders=_placeholder_names(),
        loops=[
            (
                "instalments",
                "{% for instalment in instalments %}{{ instalment.amount }} "
                "due on {{ instalment.due_date }}\n{% endfor %}",
            )
        ],
        texts=texts,
        note=_(
            "Sent with the PDF when an invoice is issued. A customer gets the "
            "text of its language, else the platform's wording in it, else the "
            "English one."
        ),
        active=active,
        errors=errors or {},
        message=message,
    )


def _placeholder_names() -> list[str]:
    from o2c.templating import placeholder_list

    return placeholder_list(email_text.PLACEHOLDERS)


def _saved_texts() -> dict[str, tuple[str, str]]:
    saved = email_text.saved_texts()
    texts = {code: (text.subject, text.body) for code, text in saved.items()}
    for code, standard in email_text.STANDARD_TEXTS.items():
        texts.setdefault(code, standard)
    return texts


@capability_required("edit_templates")
def invoice_email_texts(request):
    """The editor (GET) or the texts saved (POST; refused ones come back 422)."""
    if request.method != "POST":
        customers = _customers()
        page = _page(request, texts=_saved_texts())
        context = page.context(
            customer=customers[0] if customers else None, customers=customers
        )
        # The preview shows what the customer receives: its language's text.
        language = email_text.text_language(context["customer"])
        context["preview"], context["preview_error"] = _preview(
            context["customer"], *(page.texts.get(language) or page.texts["en"])
        )
        context["preview_language"] = email_text.LANGUAGES[language]
        return render(request, "o2c/text_editor.html", context)
    texts, active = typed_texts(request.POST), active_language(request.POST)
    customer = tenant_object(Customer, request.POST.get("customer") or None)
    try:
        email_text.invoice_email_texts_save(texts=texts, actor=actor_of(request))
    except DomainError as error:
        name = error_input(error, lambda field: field.split(".")[0])
        page = _page(
            request,
            texts=texts,
            active=name.split("-")[0] if name else active,
            errors={name or f"{active}-body": error.message},
        )
        status = 422
    else:
        page = _page(request, texts=texts, active=active, message=_("Texts saved."))
        status = 200
    context = page.context(customer=customer, customers=_customers())
    template = "o2c/_text_editor.html" if is_htmx(request) else "o2c/text_editor.html"
    return render(request, template, context, status=status)


@require_POST
@capability_required("edit_templates")
def invoice_email_preview(request):
    language = active_language(request.POST)
    subject, body = typed_texts(request.POST)[language]
    if language != "en" and not (subject.strip() or body.strip()):
        subject, body = typed_texts(request.POST)["en"]
    customer = tenant_object(Customer, request.POST.get("customer") or None)
    preview, error = _preview(customer, subject, body)
    return render(
        request,
        "o2c/_text_preview.html",
        {
            "customer": customer,
            "preview": preview,
            "preview_error": error,
            "preview_language": dict(email_text.LANGUAGES)[language],
        },
    )


def _preview(customer, subject: str, body: str):
    """The email the customer's latest invoice went out with, with these texts."""
    if customer is None:
        return None, ""
    invoice = (
        Invoice.objects.filter(customer=customer)
        .exclude(number="")
        .order_by("-invoice_date", "-pk")
        .first()
    )
    if invoice is None:
        return None, _("%(name)s has no issued invoice to show the email with.") % {
            "name": customer.name
        }
    try:
        email_text.check_texts(subject=subject, body=body)
        rendered = email_text.invoice_email_render(invoice, subject=subject, body=body)
    except DomainError as error:
        return None, error.message
    return {"subject": rendered.subject, "content": rendered.content}, ""
