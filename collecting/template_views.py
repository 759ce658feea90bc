"""Editors of the dunning steps' and collectors' email texts: a tab per language,
the placeholders, a live preview for a real customer rendered by
:func:`policies.step_preview` — the notice context and template rendering the
sending uses — of the text as typed, before it is saved."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from collecting.models import DunningStep, EmailTemplate
from collecting.services import policies, rendering
from o2c.errors import DomainError
from o2c.templating import placeholder_list
from o2c.text_editor import (
    LANGUAGES,
    EditorPage,
    active_language,
    error_input,
    typed_texts,
)
from o2c.views import actor_of, capability_required, is_htmx
from orders.forms import tenant_object
from orders.models import Customer

INVOICES_LOOP = (
    "{% for invoice in invoices %}{{ invoice.number }} {{ invoice.due_date }} "
    "{{ invoice.open_amount }} {{ currency }}\n{% endfor %}"
)
PREVIEW_CUSTOMERS = 10


def _sources(kind: str):
    model = {"steps": DunningStep, "templates": EmailTemplate}.get(kind)
    if model is None:
        raise Http404(f"No texts of '{kind}'.")
    return model


def _texts(source) -> dict[str, tuple[str, str]]:
    texts = {"en": (source.subject, source.body)}
    for code, _label in LANGUAGES[1:]:
        variant = (source.translations or {}).get(code) or {}
        texts[code] = (variant.get("subject", ""), variant.get("body", ""))
    return texts


def _page(kind, source, *, texts, active="en", errors=None, message=""):
    if kind == "steps":
        back_url = reverse("collecting:policy", args=[source.policy_id])
        back_label = source.policy.name
        title = _("%(name)s: email text") % {"name": source.name}
    else:
        back_url, back_label = reverse("collecting:policies"), _("Dunning policies")
        title = _("%(name)s: email template") % {"name": source.name}
    return EditorPage(
        title=title,
        back_url=back_url,
        back_label=back_label,
        save_url=reverse("collecting:texts", args=[kind, source.pk]),
        preview_url=reverse("collecting:texts_preview", args=[kind, source.pk]),
        placeholders=placeholder_list(rendering.PLACEHOLDERS),
        loops=[("invoices", INVOICES_LOOP)],
        texts=texts,
        note=_(
            "The English text is sent to customers whose language has no text "
            "of its own."
        ),
        active=active,
        errors=errors or {},
        message=message,
    )


def _language_of(field: str) -> str:
    # "subject" is the English (plain) text; "translations.de.body" German's.
    parts = field.split(".")
    return parts[1] if parts[0] == "translations" and len(parts) == 3 else "en"


def _customers():
    return list(
        Customer.objects.only("pk", "name", "number").order_by("name", "pk")[
            :PREVIEW_CUSTOMERS
        ]
    )


@capability_required("edit_templates")
def texts_edit(request, kind, pk):
    model = _sources(kind)
    source = get_object_or_404(model.objects.all(), pk=pk)
    if request.method != "POST":
        customers = _customers()
        customer = customers[0] if customers else None
        page = _page(kind, source, texts=_texts(source))
        context = page.context(customer=customer, customers=customers)
        context.update(_preview(source, customer, "en", *page.texts["en"]))
        return render(request, "o2c/text_editor.html", context)
    texts, active = typed_texts(request.POST), active_language(request.POST)
    customer = tenant_object(Customer, request.POST.get("customer") or None)
    try:
        source = policies.texts_update(
            source=source, texts=texts, actor=actor_of(request)
        )
    except DomainError as error:
        name = error_input(error, _language_of) or f"{active}-body"
        page = _page(
            kind,
            source,
            texts=texts,
            active=name.split("-")[0],
            errors={name: error.message},
        )
        status = 422
    else:
        page = _page(
            kind, source, texts=texts, active=active, message=_("Texts saved.")
        )
        status = 200
    context = page.context(customer=customer, customers=_customers())
    template = "o2c/_text_editor.html" if is_htmx(request) else "o2c/text_editor.html"
    return render(request, template, context, status=status)


@require_POST
@capability_required("edit_templates")
def texts_preview(request, kind, pk):
    source = get_object_or_404(_sources(kind).objects.all(), pk=pk)
    language = active_language(request.POST)
    subject, body = typed_texts(request.POST)[language]
    customer = tenant_object(Customer, request.POST.get("customer") or None)
    context = {"customer": customer}
    context.update(_preview(source, customer, language, subject, body))
    return render(request, "o2c/_text_preview.html", context)


def _preview(source, customer, language, subject, body) -> dict:
    """The message ``customer`` would get with the typed texts of ``language``
    (an empty translation falls back to English, as the sending does)."""
    names = dict(LANGUAGES)
    context = {"preview_language": names[language]}
    if customer is None:
        return context
    try:
        if language != "en" and not (subject.strip() or body.strip()):
            draft = source
            context["preview_note"] = _(
                "No %(language)s text: the English one is sent."
            ) % {"language": names[language]}
        else:
            draft = policies.draft_texts(
                source, language=language, subject=subject, body=body
            )
        rendered = policies.step_preview(
            step=draft, customer=customer, language=language
        )
    except DomainError as error:
        context["preview_error"] = error.message
        return context
    context["preview"] = {
        "subject": rendered.subject,
        "content": rendering.email_content(rendered),
    }
    if (customer.language or "en").split("-")[0] != language:
        context["preview_note"] = (
            f"{customer.name}'s language is {customer.language or 'not set'}; "
            f"this is the {names[language]} text with its figures."
        )
    return context
