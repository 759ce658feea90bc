"""Invoice and credit-note PDFs, rendered by WeasyPrint from Django templates.

Rendering fetches nothing but the project's own static files and the
organization's logo (an ``o2c-logo:`` name read from the media storage, local or
S3). Customer and organization text reaches the HTML through Django's autoescaping,
and :class:`StaticFilesFetcher` refuses every other URL (``file:`` outside the
static directories, ``http(s):``, ``data:``, any other stored file), so nothing a
user typed can make the renderer read a file of the server or call the network.

Documents speak the customer's language (:mod:`o2c.document_language`): labels,
amounts with their currency's ISO 4217 minor units (JPY 0, EUR 2, KWD 3) as that
language writes money, and dates.
"""

from __future__ import annotations

import mimetypes
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from django.conf import settings
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from invoicing.models import CreditNote, Invoice, LedgerEntry
from invoicing.references import pay_to, payment_reference
from o2c.document_language import DocumentLanguage, speaking
from o2c.organization import LOGO_SCHEME, logo_content

INVOICE_TEMPLATE = "invoicing/pdf/invoice.html"
CREDIT_NOTE_TEMPLATE = "invoicing/pdf/credit_note.html"


class StaticFilesFetcher(URLFetcher):
    """Serve ``file:`` URLs that resolve inside the static directories; refuse all else.

    Paths are resolved (``..`` and symlinks) before the check, so a URL cannot climb
    out of a static directory.
    """

    def __init__(self, roots: list[Path] | None = None, *, logos: bool = False):
        super().__init__(allowed_protocols=("file",), allow_redirects=False)
        self.roots = roots if roots is not None else static_roots()
        # Organizations' logos (``o2c-logo:`` URIs), read from the media storage.
        self.logos = logos

    def fetch(self, url, headers=None):
        parts = urlsplit(url)
        if self.logos and parts.scheme.lower() == LOGO_SCHEME:
            content_type = mimetypes.guess_type(parts.path)[0]
            return URLFetcherResponse(
                url,
                logo_content(url),
                {"Content-Type": content_type or "application/octet-stream"},
            )
        if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
            raise PermissionError(f"Documents may not load {url[:100]!r}.")
        path = Path(url2pathname(parts.path)).resolve()
        inside = any(path.is_relative_to(root) for root in self.roots)
        if not inside or not path.is_file():
            raise PermissionError(f"Documents may not load {url[:100]!r}.")
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(
            path.as_uri(), path.read_bytes(), {"Content-Type": content_type}
        )


def static_roots() -> list[Path]:
    """The project's static directories (``STATICFILES_DIRS``), resolved."""
    roots = []
    for entry in settings.STATICFILES_DIRS:
        # An entry may be a (prefix, path) pair.
        directory = entry[1] if isinstance(entry, list | tuple) else entry
        roots.append(Path(directory).resolve())
    return roots


def render_invoice_pdf(invoice: Invoice) -> bytes:
    """The invoice as the customer receives it, in the customer's language; call
    inside its organization."""
    organization = invoice.organization
    with speaking(invoice.customer.language, organization) as language:
        return _render(INVOICE_TEMPLATE, _invoice_context(invoice, language))


def _invoice_context(invoice: Invoice, language: DocumentLanguage) -> dict:
    currency = invoice.currency
    lines = list(invoice.lines.all())
    instalments = list(invoice.instalments.all())
    return {
        "organization": invoice.organization,
        "customer": invoice.customer,
        "invoice": invoice,
        "currency": currency,
        "document_title": _invoice_title(invoice),
        "lines": _lines(lines, language, currency),
        "tax_summary": _tax_summary(lines, language, currency),
        "amounts": _amounts(
            language,
            currency,
            subtotal=invoice.subtotal,
            tax_total=invoice.tax_total,
            total=invoice.total,
        ),
        "settlement": _settlement(invoice, language),
        "discount": _discount(invoice, language),
        "pay_to": pay_to(),
        "payment_reference": payment_reference(invoice),
        "instalments": [
            {
                "sequence": instalment.sequence,
                "due_date": instalment.due_date,
                "amount": language.money(instalment.amount, currency),
            }
            for instalment in instalments
        ]
        if len(instalments) > 1
        else [],
    }


def _discount(invoice: Invoice, language: DocumentLanguage) -> dict | None:
    """The early-payment discount as issued, for an invoice still payable."""
    if not invoice.has_discount or invoice.status in (
        Invoice.Status.VOID,
        Invoice.Status.PAID,
    ):
        return None
    currency = invoice.currency
    return {
        "percent": f"{invoice.discount_percent.normalize():f}",
        "amount": language.money(invoice.discount_amount, currency),
        "pay": language.money(invoice.total - invoice.discount_amount, currency),
        "total": language.money(invoice.total, currency),
    }


def render_credit_note_pdf(credit_note: CreditNote) -> bytes:
    """The credit note as the customer receives it, in the customer's language;
    call inside its organization."""
    organization = credit_note.organization
    currency = credit_note.currency
    lines = list(credit_note.lines.all())
    with speaking(credit_note.customer.language, organization) as language:
        context = {
            "organization": organization,
            "customer": credit_note.customer,
            "credit_note": credit_note,
            "invoice": credit_note.invoice,
            "currency": currency,
            "document_title": _credit_note_title(credit_note),
            "lines": _lines(lines, language, currency),
            "tax_summary": _tax_summary(lines, language, currency),
            "amounts": _amounts(
                language,
                currency,
                subtotal=credit_note.subtotal,
                tax_total=credit_note.tax_total,
                total=credit_note.total,
            ),
        }
        return _render(CREDIT_NOTE_TEMPLATE, context)


def _render(template_name: str, context: dict) -> bytes:
    return html_to_pdf(render_to_string(template_name, context))


def html_to_pdf(html: str) -> bytes:
    """Lay out ``html`` as a PDF, fetching nothing but the project's static files."""
    roots = static_roots()
    return HTML(
        string=html,
        base_url=roots[0].as_uri() + "/",
        # Organizations' logos are checked when uploaded (o2c.organization).
        url_fetcher=StaticFilesFetcher(roots, logos=True),
    ).write_pdf()


def _invoice_title(invoice: Invoice) -> str:
    """The title (Invoice INV-000001) in the active language: the document's,
    inside :func:`~o2c.document_language.speaking`."""
    if invoice.number:
        return _("Invoice %(number)s") % {"number": invoice.number}
    return _("Draft invoice")


def _credit_note_title(credit_note: CreditNote) -> str:
    return _("Credit note %(number)s") % {"number": credit_note.number}


def _lines(lines, language: DocumentLanguage, currency: str) -> list[dict]:
    def amount(value):
        return language.amount(value, currency)

    return [
        {
            "position": line.position,
            "description": line.description,
            "quantity": language.number(line.quantity),
            "unit_price": amount(line.unit_price),
            "net_amount": amount(line.net_amount),
            "tax_rate": language.number(line.tax_rate),
            "tax_amount": amount(line.tax_amount),
            "total": amount(line.net_amount + line.tax_amount),
        }
        for line in lines
    ]


def _tax_summary(lines, language: DocumentLanguage, currency: str) -> list[dict]:
    """Net and tax per tax rate, as tax law asks invoices to show them."""
    by_rate: dict[Decimal, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 2)
    for line in lines:
        by_rate[line.tax_rate][0] += line.net_amount
        by_rate[line.tax_rate][1] += line.tax_amount
    return [
        {
            "rate": language.number(rate),
            "net": language.amount(net, currency),
            "tax": language.amount(tax, currency),
        }
        for rate, (net, tax) in sorted(by_rate.items())
    ]


def _amounts(language: DocumentLanguage, currency, **amounts: Decimal) -> dict:
    """Totals with their currency (€1,234.56 / 1.234,56 €)."""
    return {name: language.money(value, currency) for name, value in amounts.items()}


@dataclass(frozen=True)
class Settlement:
    """What has happened to an issued invoice since, from its ledger entries."""

    fees: str | None
    paid: str | None
    credited: str | None
    adjusted: str | None
    open_amount: str
    discounted: str | None = None


_PAID_KINDS = (LedgerEntry.Kind.ALLOCATION, LedgerEntry.Kind.IMPORTED_SETTLEMENT)


def _settlement(invoice: Invoice, language: DocumentLanguage) -> Settlement | None:
    """Fees, payments, credits and write-offs on an issued invoice (None otherwise).

    A reversal counts against the kind it reverses, so a reversed payment is no
    longer "paid".
    """
    if not invoice.is_issued:
        return None
    by_kind = dict(
        LedgerEntry.objects.filter(invoice=invoice)
        .annotate(original_kind=Coalesce("reverses__kind", "kind"))
        .values_list("original_kind")
        .annotate(amount=Sum("amount"))
        .order_by()
    )

    def shown(kinds, sign=-1):
        amount = sign * sum((by_kind.get(kind, Decimal(0)) for kind in kinds), 0)
        if not amount:
            return None
        return language.money(amount, invoice.currency)

    return Settlement(
        fees=shown([LedgerEntry.Kind.FEE], sign=1),
        paid=shown(_PAID_KINDS),
        credited=shown([LedgerEntry.Kind.CREDIT_NOTE]),
        adjusted=shown([LedgerEntry.Kind.WRITE_OFF]),
        discounted=shown([LedgerEntry.Kind.DISCOUNT]),
        open_amount=language.money(invoice.open_amount, invoice.currency),
    )
