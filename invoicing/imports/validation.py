"""Checking every row of an import before anything is written.

The checks read the database (customers, payment terms, invoices already there) but
never write: :func:`plan_import` turns the parsed tables into an :class:`ImportPlan`
of typed records, and collects every problem it finds on the way instead of
stopping at the first, so the user fixes the file once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from invoicing.imports.parsing import (
    CellError,
    Row,
    RowError,
    Table,
    iter_chunks,
    parse_amount,
    parse_date,
    parse_flag,
)
from invoicing.models import Invoice
from o2c.errors import DomainError
from o2c.models import Membership
from o2c.money import validate_currency
from o2c.tenancy import current_organization
from orders.models import Customer, PaymentTerm

MAX_ERRORS = 200
LOOKUP_CHUNK = 2000


@dataclass
class ErrorList:
    """Every problem counted; the first ``MAX_ERRORS`` kept for the user to read."""

    items: list[RowError] = field(default_factory=list)
    count: int = 0

    def add(self, line: int | None, column: str, message: str, source="") -> None:
        self.count += 1
        if len(self.items) < MAX_ERRORS:
            self.items.append(RowError(line, column, message, source))

    def extend(self, errors: list[RowError]) -> None:
        for error in errors:
            self.add(error.line, error.column, error.message, error.source)

    def __bool__(self) -> bool:
        return self.count > 0


@dataclass(frozen=True)
class CustomerRecord:
    line: int
    number: str
    fields: dict


@dataclass(frozen=True)
class InvoiceRecord:
    line: int
    number: str
    customer_number: str
    currency: str
    invoice_date: date
    due_date: date
    amount: Decimal
    settled_amount: Decimal  # 0 for an invoice that is still fully open
    settled_date: date | None
    disputed: bool
    customer_reference: str

    @property
    def open_amount(self) -> Decimal:
        return self.amount - self.settled_amount


@dataclass
class ImportPlan:
    """What the write phase will do, decided before the transaction starts."""

    rows: int = 0
    new_customers: list[CustomerRecord] = field(default_factory=list)
    unchanged_customers: int = 0
    new_invoices: list[InvoiceRecord] = field(default_factory=list)
    unchanged_invoices: int = 0
    customer_ids: dict[str, int] = field(default_factory=dict)
    numbers_in_use: set[str] = field(default_factory=set)
    ignored_columns: list[str] = field(default_factory=list)


class _RowChecker:
    """Reads one row's cells; a bad cell records an error and yields ``None``."""

    def __init__(self, row: Row, table: Table, errors: ErrorList):
        self.row, self.table, self.errors = row, table, errors
        self.ok = True

    def fail(self, name: str, message: str) -> None:
        self.ok = False
        self.errors.add(
            self.row.line, self.table.header(name), message, self.table.error_source
        )

    def text(self, name: str, *, required: bool = False, max_length: int = 0) -> str:
        value = self.row.get(name)
        if required and not value:
            self.fail(name, "A value is required.")
        elif max_length and len(value) > max_length:
            self.fail(name, f"At most {max_length} characters; got {len(value)}.")
            return ""
        return value

    def parse(self, name: str, parser: Callable, *args, required: bool = False):
        value = self.row.get(name)
        if not value:
            if required:
                self.fail(name, "A value is required.")
            return None
        try:
            return parser(value, *args)
        except CellError as error:
            self.fail(name, str(error))
            return None

    def currency(self, name: str, default: str | None) -> str | None:
        value = self.row.get(name) or default
        if not value:
            return None
        try:
            return validate_currency(value)
        except DomainError:
            self.fail(name, f'"{value}" is not an ISO 4217 currency code.')
            return None


def plan_import(
    tables: dict[str, Table],
    *,
    kind: str,
    date_format: str,
    errors: ErrorList,
    on_row: Callable[[], None],
) -> ImportPlan:
    plan = ImportPlan(rows=sum(len(t.rows) for t in tables.values()))
    for table in tables.values():
        if len(tables) > 1:
            table.error_source = table.source_name
        plan.ignored_columns.extend(
            f"{table.source_name}: {name}" for name in table.ignored_columns
        )
    file_customers: dict[str, str | None] = {}
    if "customers" in tables:
        file_customers = _plan_customers(
            tables["customers"], plan=plan, errors=errors, on_row=on_row
        )
    if kind == "invoices":
        _plan_invoices(
            tables["invoices"],
            plan=plan,
            file_customers=file_customers,
            date_format=date_format,
            errors=errors,
            on_row=on_row,
        )
    return plan


# --- customers ---------------------------------------------------------------------


def _plan_customers(
    table: Table, *, plan: ImportPlan, errors: ErrorList, on_row
) -> dict[str, str | None]:
    """Check customer rows; returns each number's currency (None if unreadable)."""
    organization = current_organization()
    terms = {
        name.casefold(): (pk, name)
        for pk, name in PaymentTerm.objects.values_list("pk", "name")
    }
    collectors = _collectors_by_login(organization)
    existing = _existing(Customer, "number", [r.get("number") for r in table.rows])
    currencies: dict[str, str | None] = {}
    first_line: dict[str, int] = {}
    for row in table.rows:
        on_row()
        check = _RowChecker(row, table, errors)
        number = check.text("number", required=True, max_length=40)
        if number in first_line:
            check.fail(
                "number",
                f'Customer "{number}" is already on line {first_line[number]}.',
            )
        elif number:
            first_line[number] = row.line
        fields = _customer_fields(check, organization, terms, collectors)
        if number and number not in currencies:
            currencies[number] = fields.get("currency")
        if not check.ok:
            continue
        if number in existing:
            plan.unchanged_customers += 1
        else:
            plan.new_customers.append(CustomerRecord(row.line, number, fields))
    return currencies


def _customer_fields(check: _RowChecker, organization, terms, collectors) -> dict:
    fields = {
        name: check.text(name, max_length=length)
        for name, length in (
            ("legal_name", 200), ("phone", 50), ("tax_id", 50), ("segment", 50),
            ("external_id", 100), ("address", 0),
        )
    }  # fmt: skip
    fields["name"] = check.text("name", required=True, max_length=200)
    email = check.text("email", max_length=254)
    if email:
        try:
            validate_email(email)
        except ValidationError:
            check.fail("email", f'"{email}" is not an email address.')
    fields["email"] = email
    country = check.text("country").upper()
    if country and not (len(country) == 2 and country.isalpha()):
        check.fail("country", f'"{country}" is not a two-letter country code.')
    fields["country"] = country
    fields["language"] = check.text("language", max_length=10) or "en"
    currency = check.currency("currency", organization.base_currency)
    fields["currency"] = currency
    term_name = check.text("payment_term", required=True)
    if term_name:
        fields["payment_term_id"], _ = terms.get(term_name.casefold(), (None, ""))
        if fields["payment_term_id"] is None:
            known = ", ".join(sorted(name for _, name in terms.values())[:10])
            check.fail(
                "payment_term",
                f'No payment term named "{term_name}" (known: {known or "none yet"}).',
            )
    if currency:
        fields["credit_limit"] = check.parse("credit_limit", parse_amount, currency)
        if fields["credit_limit"] is not None and fields["credit_limit"] < 0:
            check.fail("credit_limit", "A credit limit cannot be negative.")
    risk = check.text("risk_class").lower() or Customer.Risk.MEDIUM
    if risk not in Customer.Risk.values:
        check.fail("risk_class", f'"{risk}" is not one of low, medium, high.')
    fields["risk_class"] = risk
    fields["do_not_contact"] = bool(check.parse("do_not_contact", parse_flag))
    collector = check.text("collector")
    if collector:
        fields["collector_id"] = collectors.get(collector.casefold())
        if fields["collector_id"] is None:
            check.fail(
                "collector", f'"{collector}" is not a member of this organization.'
            )
    return fields


def _collectors_by_login(organization) -> dict[str, int]:
    members = get_user_model().objects.filter(
        pk__in=Membership.objects.filter(organization=organization).values("user_id")
    )
    logins = {}
    for pk, username, email in members.values_list("pk", "username", "email"):
        logins[username.casefold()] = pk
        if email:
            logins.setdefault(email.casefold(), pk)
    return logins


# --- invoices ----------------------------------------------------------------------


@dataclass
class _InvoiceContext:
    customer_currency: dict[str, str | None]
    date_format: str
    today: date
    first_line: dict[str, int] = field(default_factory=dict)


def _plan_invoices(
    table: Table,
    *,
    plan: ImportPlan,
    file_customers: dict[str, str | None],
    date_format: str,
    errors: ErrorList,
    on_row,
) -> None:
    customer_numbers = {row.get("customer") for row in table.rows} - {""}
    known = dict(file_customers)
    for chunk in iter_chunks(sorted(customer_numbers), LOOKUP_CHUNK):
        for pk, number, currency in Customer.objects.filter(
            number__in=chunk
        ).values_list("pk", "number", "currency"):
            plan.customer_ids[number] = pk
            known[number] = currency
    numbers = [row.get("number") for row in table.rows]
    already_imported = _existing(Invoice, "external_id", numbers)
    plan.numbers_in_use = _existing(Invoice, "number", numbers)
    context = _InvoiceContext(
        customer_currency=known,
        date_format=date_format,
        today=current_organization().today(),
    )
    for row in table.rows:
        on_row()
        record = _check_invoice_row(_RowChecker(row, table, errors), context)
        if record is None:
            continue
        if record.number in already_imported:
            plan.unchanged_invoices += 1
        else:
            plan.new_invoices.append(record)


def _check_invoice_row(
    check: _RowChecker, context: _InvoiceContext
) -> InvoiceRecord | None:
    number = check.text("number", required=True, max_length=100)
    if number in context.first_line:
        check.fail(
            "number",
            f'Invoice "{number}" is already on line {context.first_line[number]}.',
        )
    elif number:
        context.first_line[number] = check.row.line
    customer = check.text("customer", required=True)
    customer_currency = None
    if customer and customer not in context.customer_currency:
        check.fail(
            "customer",
            f'No customer with number "{customer}". Import the customers first or '
            "upload them with the invoices.",
        )
    elif customer:
        customer_currency = context.customer_currency[customer]
    currency = check.currency("currency", customer_currency)
    invoice_date = check.parse(
        "invoice_date", parse_date, context.date_format, required=True
    )
    due_date = check.parse("due_date", parse_date, context.date_format, required=True)
    if invoice_date and due_date and due_date < invoice_date:
        check.fail("due_date", f"Due date {due_date} is before the invoice date.")
    amount = open_amount = None
    if currency:
        amount = check.parse("amount", parse_amount, currency, required=True)
        if amount is not None and amount <= 0:
            check.fail("amount", "The amount must be positive (credit notes are not "
                       "imported here).")  # fmt: skip
            amount = None
        open_amount = check.parse("open_amount", parse_amount, currency)
    elif not check.row.get("amount"):
        check.fail("amount", "A value is required.")
    settled_date = check.parse("settled_date", parse_date, context.date_format)
    if settled_date and invoice_date and settled_date < invoice_date:
        check.fail("settled_date", f"Settled {settled_date}, before the invoice date.")
    if settled_date and settled_date > context.today:
        check.fail("settled_date", f"Settled date {settled_date} is in the future.")
    settled_amount = _settled_amount(check, amount, open_amount, settled_date)
    disputed = bool(check.parse("disputed", parse_flag))
    reference = check.text("customer_reference", max_length=100)
    if not check.ok:
        return None
    return InvoiceRecord(
        line=check.row.line,
        number=number,
        customer_number=customer,
        currency=currency,
        invoice_date=invoice_date,
        due_date=due_date,
        amount=amount,
        settled_amount=settled_amount,
        settled_date=settled_date,
        disputed=disputed,
        customer_reference=reference,
    )


def _settled_amount(check: _RowChecker, amount, open_amount, settled_date) -> Decimal:
    """How much of the invoice the old system had settled, on ``settled_date``.

    No open amount given: a settled date means settled in full, none means open in
    full. An open amount below the amount needs the settled date of the difference.
    """
    if amount is None:
        return Decimal(0)
    if open_amount is None:
        return amount if settled_date else Decimal(0)
    if open_amount < 0 or open_amount > amount:
        check.fail("open_amount", f"The open amount must be 0 to {amount}.")
        return Decimal(0)
    settled = amount - open_amount
    if settled and settled_date is None:
        check.fail(
            "settled_date",
            f"{settled} of the invoice was settled: give the date it was settled.",
        )
    if not settled and settled_date:
        check.fail(
            "open_amount",
            "The whole amount is open, yet the invoice has a settled date.",
        )
    return settled


def _existing(model, field_name: str, values: list[str]) -> set[str]:
    """Which of ``values`` already exist as ``field_name`` of ``model``."""
    found: set[str] = set()
    wanted = sorted({v for v in values if v})
    for chunk in iter_chunks(wanted, LOOKUP_CHUNK):
        found.update(
            model.objects.filter(**{f"{field_name}__in": chunk}).values_list(
                field_name, flat=True
            )
        )
    return found
