"""PDFs of reports (aging, statement of account), rendered by WeasyPrint.

Rendering goes through invoicing's :class:`~invoicing.documents.StaticFilesFetcher`:
the HTML may load the project's static files and nothing else, so no text a
user typed (a customer name, an address) can make the renderer read a server
file or call the network.
"""

from __future__ import annotations

from datetime import date

from django.template.loader import render_to_string
from django.utils.translation import gettext

from invoicing.documents import html_to_pdf
from invoicing.references import pay_to, payment_reference
from o2c.document_language import speaking
from o2c.tenancy import current_organization
from reports.selectors.aging import AgingFilters, aging_report
from reports.selectors.history import Statement

MAX_PDF_ROWS = 2000


def render_pdf(template_name: str, context: dict) -> bytes:
    html = render_to_string(
        template_name, {"organization": current_organization(), **context}
    )
    return html_to_pdf(html)


def statement_pdf(statement: Statement) -> bytes:
    """The statement of account as the customer receives it, in the customer's
    language (:mod:`o2c.document_language`)."""
    for invoice in statement.open_invoices:
        invoice.payment_reference = payment_reference(invoice)
    customer = statement.customer
    with speaking(customer.language, current_organization()):
        return render_pdf(
            "reports/pdf/statement.html",
            {
                "statement": statement,
                "customer": customer,
                "pay_to": pay_to(),
                "document_title": gettext("Statement of account %(number)s")
                % {"number": customer.number},
            },
        )


def aging_pdf(
    *,
    as_of: date,
    boundaries: list[int],
    group_by: str,
    filters: AgingFilters,
    in_base: bool = False,
) -> bytes:
    """The aging's totals and its first ``MAX_PDF_ROWS`` rows (largest first);
    the CSV and XLSX exports carry every row."""
    report = aging_report(
        as_of=as_of,
        boundaries=boundaries,
        group_by=group_by,
        filters=filters,
        in_base=in_base,
        page_size=MAX_PDF_ROWS,
    )
    # A report of the organization's own, in its language (exports run in a
    # worker, where no page has chosen one).
    with speaking("", current_organization()):
        return render_pdf(
            "reports/pdf/aging.html",
            {
                "report": report,
                "document_title": gettext("Aging as of %(date)s")
                % {"date": report.as_of.isoformat()},
                "truncated": report.line_count > len(report.lines),
            },
        )
