"""The columns an import file may have, with the other names old systems give them.

Headers are matched after normalising: lower case, every run of characters other
than letters and digits turned into one ``_`` ("Invoice No." → ``invoice_no``,
"Due-Date" → ``due_date``, "Invoice #" → ``invoice``). Unknown columns are ignored
and listed in the job's result, so a full export of the old system can be uploaded
as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Column:
    name: str
    required: bool
    aliases: tuple[str, ...]
    description: str  # translated lazily: the imports page shows it


INVOICE_COLUMNS = (
    Column(
        "number",
        True,
        ("invoice_number", "invoice_no", "invoice_nr", "invoice", "invoice_id",
         "document_number", "document_no", "doc_no", "external_id"),
        _("The old system's invoice number; unique in the file. Kept as our number "
        "unless it collides with ours, and always as the external id."),
    ),
    Column(
        "customer",
        True,
        ("customer_number", "customer_no", "customer_nr", "customer_id",
         "account", "account_number", "account_no", "debtor", "debtor_number"),
        _("Customer number: an existing customer, or one in the customers file "
        "uploaded with the invoices."),
    ),
    Column(
        "invoice_date",
        True,
        ("date", "document_date", "issue_date", "issued", "invoiced"),
        _("Date of the invoice (YYYY-MM-DD unless another date format is chosen)."),
    ),
    Column(
        "due_date",
        True,
        ("due", "due_on", "payment_due", "net_due_date"),
        _("Due date; not before the invoice date."),
    ),
    Column(
        "amount",
        True,
        ("total", "invoice_amount", "amount_total", "gross_amount", "amount_gross",
         "gross", "invoice_total"),
        _("Invoice total, tax included, exact in the currency's minor unit "
        "(12.50, not 12,50)."),
    ),
    Column(
        "currency",
        False,
        ("currency_code", "cur", "ccy", "curr"),
        _("ISO 4217 code; blank means the customer's currency."),
    ),
    Column(
        "settled_date",
        False,
        ("settled", "settled_on", "paid_date", "date_paid", "paid_on",
         "payment_date", "settlement_date", "cleared_date", "closed_date"),
        _("When the invoice was settled (last payment); blank if still open."),
    ),
    Column(
        "open_amount",
        False,
        ("open", "outstanding", "amount_open", "open_balance", "balance",
         "remaining", "amount_due", "balance_due"),
        _("What is still open; blank means all of it when there is no settled date, "
        "nothing when there is. Below the amount, the difference was settled on "
        "the settled date."),
    ),
    Column(
        "disputed",
        False,
        ("dispute", "in_dispute", "is_disputed"),
        _("yes/no (also true/false, 1/0, x): the invoice is disputed."),
    ),
    Column(
        "customer_reference",
        False,
        ("reference", "po_number", "po", "purchase_order", "your_reference"),
        _("The customer's reference (purchase order number)."),
    ),
)  # fmt: skip

CUSTOMER_COLUMNS = (
    Column(
        "number",
        True,
        ("customer_number", "customer_no", "customer_nr", "customer_id",
         "account", "account_number", "account_no", "debtor", "debtor_number"),
        _("Customer number; unique in the file. An existing number is left as it is."),
    ),
    Column(
        "name",
        True,
        ("customer_name", "company", "company_name", "customer"),
        _("Name used in lists and letters."),
    ),
    Column("legal_name", False, ("registered_name",), _("Registered legal name.")),
    Column("email", False, ("e_mail", "email_address", "mail"), _("Main email.")),
    Column("phone", False, ("telephone", "phone_number", "tel"), _("Phone number.")),
    Column("address", False, ("postal_address", "billing_address"), _("Address.")),
    Column("country", False, ("country_code",), _("ISO 3166 two-letter code.")),
    Column(
        "tax_id", False, ("vat_id", "vat_number", "vat", "tax_number"), _("Tax id.")
    ),
    Column("language", False, ("lang",), _("Language of letters (default en).")),
    Column(
        "currency",
        False,
        ("currency_code", "cur", "ccy", "curr"),
        _("ISO 4217 code; blank means the organization's base currency."),
    ),
    Column(
        "payment_term",
        True,
        ("payment_terms", "payment_term_name", "payment_terms_name", "terms",
         "term"),
        _("Name of an existing payment term (as in Settings), e.g. Net 30."),
    ),
    Column(
        "credit_limit",
        False,
        ("limit", "credit_line"),
        _("Credit limit in the customer's currency; blank for none."),
    ),
    Column("segment", False, ("customer_segment", "group", "customer_group"), ""),
    Column(
        "risk_class", False, ("risk", "risk_rating"), _("low, medium (default), high.")
    ),
    Column(
        "do_not_contact", False, ("no_contact", "dnc"), _("yes/no: never send dunning.")
    ),
    Column(
        "collector",
        False,
        ("collector_email", "owner", "account_owner"),
        _("Email or user name of the member who collects this customer."),
    ),
    Column("external_id", False, ("crm_id", "erp_id"), _("Id in another system.")),
)  # fmt: skip

COLUMNS = {"invoices": INVOICE_COLUMNS, "customers": CUSTOMER_COLUMNS}

_NOT_WORD = re.compile(r"[^0-9a-z]+")


def normalise_header(header: str) -> str:
    return _NOT_WORD.sub("_", str(header).strip().lower()).strip("_")


def lookup_table(columns: tuple[Column, ...]) -> dict[str, str]:
    """Every accepted (normalised) header → the column it means."""
    table = {}
    for column in columns:
        for header in (column.name, *column.aliases):
            table[normalise_header(header)] = column.name
    return table
