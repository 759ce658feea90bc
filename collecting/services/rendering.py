"""Rendering notices: the placeholders of a template, the email, the letter PDF.

A template's subject and body use Django template syntax over plain values only
(never model instances, so a template cannot reach into related rows):

``{{ customer.name }}``, ``{{ customer.number }}``, ``{{ contact.name }}``,
``{{ organization.name }}``, ``{{ organization.email }}``, ``{{ organization.phone }}``,
``{{ invoices_table }}`` (a text table: number, due date, days overdue, open amount),
``{% for invoice in invoices %}{{ invoice.number }} {{ invoice.due_date }}
{{ invoice.days_overdue }} {{ invoice.open_amount }}{% endfor %}``,
``{{ total }}`` (open amount of the listed invoices), ``{{ fee }}``,
``{{ total_with_fee }}``, ``{{ currency }}``, ``{{ days_overdue }}`` (the most of
the listed invoices), ``{{ payment_instructions }}``, ``{{ payment_link }}``,
``{{ portal_url }}`` (the customer's own link into the customer portal, made for
this notice), ``{{ notice_date }}``, ``{{ step }}``.

Amounts show their currency's minor units, grouped as the customer's language
writes them (the organization's locale when the customer has none); dates the
organization's date format. The invoices table's headings are in the customer's
language (English, German, French; English otherwise). ``payment_link`` comes
from the setting ``COLLECTING_PAYMENT_LINK`` (a format string with ``{organization}``,
``{customer}`` and ``{reference}``), empty when unset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.template import Context
from django.template.loader import render_to_string
from django.utils import dateformat
from django.utils.html import linebreaks
from django.utils.safestring import mark_safe

from o2c.models import Organization
from o2c.money import format_amount
from o2c.templating import ListOf, check_placeholders, compile_template
from orders.models import Contact, Customer


@dataclass(frozen=True)
class Line:
    """One invoice as a notice lists it."""

    invoice_id: int
    number: str
    invoice_date: date
    due_date: date
    days_overdue: int
    open_amount: Decimal


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    context: dict
    #: The body as HTML paragraphs (escaped once), with ``{{ invoices_table }}``
    #: as a real table; empty when the message was not rendered from a template.
    body_html: str = ""
    #: The template lists the invoices itself (``invoices_table`` or a loop over
    #: ``invoices``): no table is added below the text.
    lists_invoices: bool = False


TABLE_HEADINGS = {
    "en": ("Invoice", "Due date", "Days overdue", "Open"),
    "de": ("Rechnung", "Fällig am", "Tage überfällig", "Offen"),
    "fr": ("Facture", "Échéance", "Jours de retard", "Montant dû"),
}
ENGLISH = TABLE_HEADINGS["en"]


def table_headings(language: str) -> tuple[str, str, str, str]:
    language = (language or "").lower()
    return TABLE_HEADINGS.get(language.split("-")[0], TABLE_HEADINGS["en"])


def format_money(
    amount: Decimal, currency: str, organization: Organization, language: str = ""
) -> str:
    """The currency's minor units, grouped as ``language`` (else the
    organization's locale) writes them."""
    return format_amount(amount, currency, language or organization.locale)


def format_date(value: date, organization: Organization) -> str:
    return dateformat.format(value, organization.date_format)


# What a notice's subject and body may name (see the module docstring): a value,
# or the names under it; ``invoices`` is a list, looped over.
PLACEHOLDERS: dict = {
    "customer": frozenset({"name", "number", "email"}),
    "contact": frozenset({"name", "email"}),
    "organization": frozenset({"name", "legal_name", "email", "phone", "address"}),
    "invoices": ListOf(
        {"number", "invoice_date", "due_date", "days_overdue", "open_amount"}
    ),
    "invoices_table": None,
    "total": None,
    "fee": None,
    "total_with_fee": None,
    "currency": None,
    "days_overdue": None,
    "payment_instructions": None,
    "payment_link": None,
    "portal_url": None,
    "notice_date": None,
    "step": None,
}


def check_texts(text: str, *, field: str) -> None:
    """A subject or body that compiles and names only :data:`PLACEHOLDERS`."""
    check_placeholders(text, field=field, placeholders=PLACEHOLDERS)


def invoices_table(lines: list[dict], currency: str, language: str = "") -> str:
    *headings, open_heading = table_headings(language)
    header = (*headings, f"{open_heading} ({currency})")
    rows = [header] + [
        (
            line["number"],
            line["due_date"],
            str(line["days_overdue"]),
            line["open_amount"],
        )
        for line in lines
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]

    def fmt(row):
        return "  ".join(
            cell.rjust(width) if i >= 2 else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    return "\n".join(
        [fmt(header), "  ".join("-" * w for w in widths)]
        + [fmt(row) for row in rows[1:]]
    )


def billing_contact(customer: Customer, contacts: list[Contact]) -> dict:
    for contact in contacts:
        if contact.role in (Contact.Role.BILLING, Contact.Role.AP_CLERK):
            return {"name": contact.name, "email": contact.email}
    return {"name": customer.name, "email": customer.email}


def recipients_for(customer: Customer, contacts: list[Contact]) -> list[str]:
    """Billing and AP contacts' addresses (primary first), else the customer's."""
    unique: dict[str, str] = {}
    for contact in contacts:
        if contact.role in (Contact.Role.BILLING, Contact.Role.AP_CLERK):
            address = contact.email.strip()
            if address:
                unique.setdefault(address.lower(), address)
    if unique:
        return list(unique.values())
    return [customer.email] if customer.email else []


def notice_context(
    *,
    organization: Organization,
    customer: Customer,
    contacts: list[Contact],
    lines: list[Line],
    currency: str,
    fee: Decimal,
    notice_date: date,
    step_name: str = "",
    language: str | None = None,
    portal_url: str = "",
) -> dict:
    language = customer.language if language is None else language

    def money(value):
        return format_money(value, currency, organization, language)

    listed = [
        {
            "number": line.number,
            "invoice_date": format_date(line.invoice_date, organization),
            "due_date": format_date(line.due_date, organization),
            "days_overdue": line.days_overdue,
            "open_amount": money(line.open_amount),
        }
        for line in lines
    ]
    total = sum((line.open_amount for line in lines), Decimal(0))
    reference = ", ".join(line.number for line in lines)
    link_format = getattr(settings, "COLLECTING_PAYMENT_LINK", "")
    return {
        "organization": {
            "name": organization.name,
            "legal_name": organization.legal_name or organization.name,
            "email": organization.email,
            "phone": organization.phone,
            "address": organization.address,
        },
        "customer": {
            "name": customer.name,
            "number": customer.number,
            "email": customer.email,
        },
        "contact": billing_contact(customer, contacts),
        "invoices": listed,
        "invoices_table": invoices_table(listed, currency, language),
        "table_headings": table_headings(language),
        "total": money(total),
        "fee": money(fee),
        "total_with_fee": money(total + fee),
        "currency": currency,
        "days_overdue": max((line.days_overdue for line in lines), default=0),
        "payment_instructions": organization.payment_instructions,
        "payment_link": link_format.format(
            organization=organization.slug,
            customer=customer.number,
            reference=reference,
        )
        if link_format
        else "",
        "portal_url": portal_url,
        "notice_date": format_date(notice_date, organization),
        "step": step_name,
    }


class TemplateCache:
    """Compiled subject/body per (template row, language): a run renders thousands
    of notices from a handful of templates."""

    def __init__(self):
        self._compiled: dict[tuple, tuple] = {}

    def render(self, source, language: str, context: dict) -> Rendered:
        subject_text, body_text = source.texts_for(language)
        key = (type(source).__name__, source.pk, subject_text, body_text)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = (
                compile_template(subject_text, field="subject"),
                compile_template(body_text, field="body"),
            )
            self._compiled[key] = compiled
        subject_template, body_template = compiled
        plain = Context(context, autoescape=False)
        subject = " ".join(subject_template.render(plain).split())
        body = body_template.render(plain)
        html = body_template.render(
            Context({**context, "invoices_table": TABLE_MARKER}, autoescape=True)
        )
        return Rendered(
            subject=subject[:300],
            body=body,
            context=context,
            body_html=_paragraphs(html, context),
            lists_invoices="invoices" in body_text,
        )


# Stands for the invoices table in the HTML rendering of a body; letters and
# digits only, so escaping leaves it as it is.
TABLE_MARKER = "O2CINVOICESTABLE0"


def _paragraphs(escaped_html: str, context: dict) -> str:
    """Paragraphs and line breaks of a body rendered with autoescaping, the
    invoices table in its place (a paragraph of its own or inline)."""
    html = linebreaks(escaped_html, autoescape=False)
    if TABLE_MARKER in html:
        table = render_to_string(
            "collecting/email/_invoices_table.html",
            {
                **context,
                "headings": context.get("table_headings", TABLE_HEADINGS["en"]),
            },
        )
        html = html.replace(f"<p>{TABLE_MARKER}</p>", table).replace(
            TABLE_MARKER, table
        )
    return mark_safe(html)  # the template engine escaped every value above


def render_builtin(name: str, context: dict) -> Rendered:
    """A message of the platform's own (payment plan reminders)."""
    subject = render_to_string(f"collecting/email/{name}_subject.txt", context)
    body = render_to_string(f"collecting/email/{name}.txt", context)
    return Rendered(subject=" ".join(subject.split()), body=body, context=context)


def body_html(rendered: Rendered) -> str:
    """The body as HTML: the template's own rendering, else the plain text's
    paragraphs (escaped once)."""
    if rendered.body_html:
        return rendered.body_html
    return mark_safe(linebreaks(rendered.body, autoescape=True))  # escapes first


def email_content(rendered: Rendered) -> str:
    """The HTML part's content: the body and, unless the text lists the invoices
    itself, their table. The email wraps it; the editor's preview shows it."""
    return render_to_string(
        "collecting/email/_notice_body.html",
        {
            "body_html": body_html(rendered),
            "show_table": not rendered.lists_invoices,
            "headings": rendered.context.get("table_headings", ENGLISH),
            "invoices": rendered.context.get("invoices", []),
            "currency": rendered.context.get("currency", ""),
            "organization": rendered.context.get("organization", {}),
        },
    )


def email_html(rendered: Rendered) -> str:
    return render_to_string(
        "collecting/email/notice.html",
        {"subject": rendered.subject, "content": mark_safe(email_content(rendered))},
    )


def letter_pdf(rendered: Rendered) -> bytes:
    """The notice as a printable letter (A4, WeasyPrint, static files only)."""
    from invoicing.documents import html_to_pdf

    html = render_to_string(
        "collecting/pdf/letter.html",
        {
            **rendered.context,
            "subject": rendered.subject,
            "body_html": body_html(rendered),
            "show_table": not rendered.lists_invoices,
            "headings": rendered.context.get("table_headings", ENGLISH),
        },
    )
    return html_to_pdf(html)
