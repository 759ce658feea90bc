"""The invoice email's wording: editable per organization and language, rendered
the same way for sending and for the editor's preview.

Subject and body are Django template syntax over plain values (no model
instances): ``{{ customer.name }}``, ``{{ customer.legal_name }}``,
``{{ customer.number }}``, ``{{ invoice.number }}``, ``{{ invoice.invoice_date }}``,
``{{ invoice.due_date }}``, ``{{ total }}``, ``{{ currency }}``,
``{% for instalment in instalments %}{{ instalment.amount }}
{{ instalment.due_date }}{% endfor %}`` (when the invoice is payable in more than
one), ``{{ payment_instructions }}``, ``{{ organization.name }}``,
``{{ organization.legal_name }}``, ``{{ organization.email }}``,
``{{ organization.phone }}``, ``{{ portal_url }}`` (the customer's link into the
customer portal, made for this email). Amounts are the currency's minor units grouped as
the organization writes them; dates are in its date format.

A customer gets the organization's text in the customer's language, else its
English text, else :data:`STANDARD_SUBJECT`/:data:`STANDARD_BODY` (the wording
the platform has always sent). The HTML part is the body's paragraphs, every
value escaped once, above a summary table (number, total, due date, reference).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.template import Context
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import linebreaks
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from invoicing.models import Invoice, InvoiceEmailText
from invoicing.portal import public_url
from o2c.document_language import DocumentLanguage, document_language, speaking
from o2c.errors import DomainError
from o2c.services import Actor, audit_record
from o2c.templating import ListOf, check_placeholders, compile_template
from o2c.tenancy import current_organization

LANGUAGES = {"en": _("English"), "de": _("German"), "fr": _("French")}

PLACEHOLDERS: dict = {
    "customer": frozenset({"name", "legal_name", "number"}),
    "invoice": frozenset({"number", "invoice_date", "due_date"}),
    "total": None,
    "currency": None,
    "instalments": ListOf({"amount", "due_date"}),
    "payment_instructions": None,
    "portal_url": None,
    "organization": frozenset({"name", "legal_name", "email", "phone"}),
}

STANDARD_SUBJECT = "Invoice {{ invoice.number }} from {{ organization.name }}"
STANDARD_BODY = """\
Dear {{ customer.legal_name }},

please find attached invoice {{ invoice.number }} of {{ invoice.invoice_date }} \
for {{ total }}.
{% if instalments %}
It is payable in {{ instalments|length }} instalments:
{% for instalment in instalments %}  {{ forloop.counter }}. {{ instalment.amount }} \
due on {{ instalment.due_date }}
{% endfor %}{% else %}
It is due on {{ invoice.due_date }}.
{% endif %}{% if payment_instructions %}
How to pay:
{{ payment_instructions }}
{% endif %}
Please quote {{ invoice.number }} as the payment reference so we can match your \
payment to this invoice.
{% if portal_url %}
See, download and pay this invoice online, or tell us about a problem with it:
{{ portal_url }}
{% endif %}{% if organization.email %}
Questions about this invoice? Reply to this email or write to \
{{ organization.email }}{% if organization.phone %}, or call \
{{ organization.phone }}{% endif %}.
{% endif %}
Kind regards,
{{ organization.legal_name }}
"""

# The platform's wording in the languages its catalogue translates (the German
# of locale/de: the words the invoice PDF and every other document use).
STANDARD_TEXTS: dict[str, tuple[str, str]] = {
    "en": (STANDARD_SUBJECT, STANDARD_BODY),
    "de": (
        "Rechnung {{ invoice.number }} von {{ organization.name }}",
        """\
Guten Tag {{ customer.legal_name }},

anbei erhalten Sie die Rechnung {{ invoice.number }} vom {{ invoice.invoice_date }} \
über {{ total }}.
{% if instalments %}
Sie ist in {{ instalments|length }} Raten zahlbar:
{% for instalment in instalments %}  {{ forloop.counter }}. {{ instalment.amount }} \
fällig am {{ instalment.due_date }}
{% endfor %}{% else %}
Sie ist am {{ invoice.due_date }} fällig.
{% endif %}{% if payment_instructions %}
Zahlungshinweise:
{{ payment_instructions }}
{% endif %}
Bitte geben Sie {{ invoice.number }} als Verwendungszweck an, damit wir Ihre \
Zahlung dieser Rechnung zuordnen können.
{% if portal_url %}
Rechnung online ansehen, herunterladen und bezahlen oder eine Beanstandung melden:
{{ portal_url }}
{% endif %}{% if organization.email %}
Fragen zu dieser Rechnung? Antworten Sie auf diese E-Mail{% if organization.phone %}, \
schreiben Sie an {{ organization.email }} oder rufen Sie uns unter \
{{ organization.phone }} an{% else %} oder schreiben Sie an \
{{ organization.email }}{% endif %}.
{% endif %}
Mit freundlichen Grüßen
{{ organization.legal_name }}
""",
    ),
}


def standard_texts(language: str) -> tuple[str, str] | None:
    """The platform's subject and body in ``language``, if it has them."""
    return STANDARD_TEXTS.get(language)


@dataclass(frozen=True)
class InvoiceEmail:
    subject: str
    text: str
    #: The HTML part's content, which the editor's preview shows as it is.
    content: str
    html: str


def texts_for(language: str) -> tuple[str, str]:
    """The subject and body a customer of ``language`` gets: the organization's
    text in the document language (:func:`o2c.document_language.document_language`:
    "de-AT" reads German), else the platform's wording in it, else the
    organization's English text, else the platform's English."""
    language = document_language(language, current_organization()).language
    saved = {
        text.language: text
        for text in InvoiceEmailText.objects.filter(language__in=[language, "en"])
    }
    if language in saved:
        return saved[language].subject, saved[language].body
    if standard_texts(language):
        return standard_texts(language)
    if "en" in saved:
        return saved["en"].subject, saved["en"].body
    return STANDARD_SUBJECT, STANDARD_BODY


def text_language(customer) -> str:
    """The editor's language whose text ``customer`` reads ("en" without one)."""
    if customer is None:
        return "en"
    language = document_language(customer.language, current_organization()).language
    return language if language in LANGUAGES else "en"


def saved_texts() -> dict[str, InvoiceEmailText]:
    return {text.language: text for text in InvoiceEmailText.objects.all()}


def invoice_email_context(
    invoice: Invoice, language: DocumentLanguage, portal_url: str = ""
) -> dict:
    """The values, written as the customer's language writes them
    (:func:`o2c.document_language.speaking`)."""
    organization = current_organization()
    customer = invoice.customer

    def day(value):
        return language.date(value)

    def money(value):
        return language.money(value, invoice.currency)

    instalments = list(invoice.instalments.all())
    return {
        "customer": {
            "name": customer.name,
            "legal_name": customer.legal_name or customer.name,
            "number": customer.number,
        },
        "invoice": {
            "number": invoice.number,
            "invoice_date": day(invoice.invoice_date),
            "due_date": day(invoice.due_date),
        },
        "total": money(invoice.total),
        "currency": invoice.currency,
        "instalments": [
            {"amount": money(i.amount), "due_date": day(i.due_date)}
            for i in instalments
        ]
        if len(instalments) > 1
        else [],
        "payment_instructions": organization.payment_instructions,
        "portal_url": portal_url,
        "organization": {
            "name": organization.name,
            "legal_name": organization.legal_name or organization.name,
            "email": organization.email,
            "phone": organization.phone,
        },
    }


def invoice_email_render(
    invoice: Invoice,
    *,
    subject: str | None = None,
    body: str | None = None,
    portal_url: str | None = None,
) -> InvoiceEmail:
    """The email ``invoice``'s customer receives: with the saved texts of its
    language, or with ``subject``/``body`` as typed in the editor (preview).
    Sending passes the email's own ``portal_url``; a preview shows where the
    portal is."""
    if portal_url is None:
        portal_url = public_url(reverse("portal:home"))
    if subject is None or body is None:
        saved_subject, saved_body = texts_for(invoice.customer.language)
        subject = saved_subject if subject is None else subject
        body = saved_body if body is None else body
    with speaking(invoice.customer.language, current_organization()) as language:
        return _render(invoice, subject, body, language, portal_url)


def _render(invoice, subject, body, language, portal_url) -> InvoiceEmail:
    context = invoice_email_context(invoice, language, portal_url)
    subject_template = compile_template(subject, field="subject")
    body_template = compile_template(body, field="body")
    plain = Context(context, autoescape=False)
    html_body = linebreaks(
        body_template.render(Context(context, autoescape=True)).strip(),
        autoescape=False,
    )
    content = render_to_string(
        "invoicing/email/_invoice_body.html",
        # The template engine escaped every value of the body above.
        {**context, "body_html": mark_safe(html_body)},
    )
    return InvoiceEmail(
        subject=" ".join(subject_template.render(plain).split())[:300],
        text=body_template.render(plain),
        content=mark_safe(content),
        html=render_to_string(
            "invoicing/email/invoice.html", {**context, "content": mark_safe(content)}
        ),
    )


def check_texts(*, subject: str, body: str, prefix: str = "") -> None:
    if not subject.strip():
        raise DomainError(
            "required", gettext("Write a subject."), field=f"{prefix}subject"
        )
    if not body.strip():
        raise DomainError("required", gettext("Write the text."), field=f"{prefix}body")
    check_placeholders(subject, field=f"{prefix}subject", placeholders=PLACEHOLDERS)
    check_placeholders(body, field=f"{prefix}body", placeholders=PLACEHOLDERS)


@transaction.atomic
def invoice_email_texts_save(*, texts: dict[str, tuple[str, str]], actor: Actor):
    """Save the organization's invoice email per language (``{"de": (subject,
    body)}``); a language left empty (both fields) keeps no text of its own.
    Any invalid text refuses them all, naming the language and the field."""
    for language, (subject, body) in texts.items():
        if language not in LANGUAGES:
            raise DomainError(
                "invalid_choice",
                gettext("Unknown language '%(language)s'.") % {"language": language},
                field="language",
            )
        if subject.strip() or body.strip():
            check_texts(subject=subject, body=body, prefix=f"{language}.")
    organization = current_organization()
    for language, (subject, body) in texts.items():
        existing = InvoiceEmailText.objects.filter(language=language).first()
        if not (subject.strip() or body.strip()):
            if existing is not None:
                audit_record(actor=actor, obj=existing, action="deleted")
                existing.delete()
            continue
        if existing and (existing.subject, existing.body) == (subject, body):
            continue
        text, _ = InvoiceEmailText.objects.update_or_create(
            organization=organization,
            language=language,
            defaults={"subject": subject, "body": body},
        )
        audit_record(
            actor=actor,
            obj=text,
            action="changed" if existing else "created",
            data={"language": language, "subject": subject},
        )
