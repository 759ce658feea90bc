"""Bank accounts of the organization, customers' bank accounts learnt from
payments, and the organization's reconciliation settings."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils.translation import gettext
from stdnum import iban as iban_number
from stdnum.exceptions import ValidationError

from o2c.errors import ConflictError, DomainError
from o2c.money import validate_currency
from o2c.services import Actor, audit_record
from o2c.tenancy import current_organization
from orders.models import Customer
from reconciliation.models import (
    BankAccount,
    CustomerBankAccount,
    ReconciliationSettings,
    StatementLine,
)
from reconciliation.statements import ColumnMapping, StatementError

BANK_ACCOUNT_FIELDS = (
    "name", "iban", "account_number", "bic", "routing_number", "currency",
    "is_default", "column_mapping",
)  # fmt: skip
SETTINGS_FIELDS = (
    "auto_apply_threshold", "auto_apply_margin", "short_payment_tolerance_percent",
    "short_payment_tolerance_amounts", "short_payment_action",
    "early_payment_discount",
    "discount_grace_days",
)  # fmt: skip


def compact_account(value: str) -> str:
    """An IBAN or account number as compared: no spaces, upper case."""
    return "".join((value or "").split()).upper()


def _valid_iban(value: str) -> str:
    value = compact_account(value)
    if not value:
        return ""
    try:
        return iban_number.validate(value)
    except ValidationError:
        raise DomainError(
            "invalid_iban",
            gettext("'%(value)s' is not a valid IBAN.") % {"value": value},
            field="iban",
        ) from None


@transaction.atomic
def bank_account_save(
    *, bank_account: BankAccount | None = None, actor: Actor, **values
) -> BankAccount:
    """Create (no ``bank_account``) or change a bank account of the organization.

    Making an account the default takes the mark off the previous default."""
    unknown = set(values) - set(BANK_ACCOUNT_FIELDS)
    if unknown:
        raise DomainError("invalid", f"Unknown fields: {', '.join(sorted(unknown))}.")
    account = bank_account or BankAccount(organization=current_organization())
    for name, value in values.items():
        setattr(account, name, value)
    account.iban = _valid_iban(account.iban)
    account.account_number = compact_account(account.account_number)
    account.bic = compact_account(account.bic)
    account.currency = validate_currency(account.currency)
    if not (account.name or "").strip():
        raise DomainError("required", gettext("Give the account a name."), field="name")
    if not account.iban and not account.account_number:
        raise DomainError(
            "required", gettext("Give an IBAN or an account number."), field="iban"
        )
    _check_column_mapping(account.column_mapping)
    if account.is_default:
        BankAccount.objects.filter(is_default=True).exclude(pk=account.pk).update(
            is_default=False
        )
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError:
        raise ConflictError(
            "duplicate",
            gettext("The IBAN %(iban)s belongs to another bank account already.")
            % {"iban": account.iban},
            field="iban",
        ) from None
    audit_record(
        actor=actor,
        obj=account,
        action="updated" if bank_account else "created",
        data={"name": account.name, "iban": account.iban},
    )
    return account


def _check_column_mapping(mapping) -> None:
    """A CSV/XLSX profile the reader accepts, so an upload does not fail on it."""
    if not isinstance(mapping, dict):
        raise DomainError(
            "invalid", "The column mapping is an object.", field="column_mapping"
        )
    if not mapping:
        return
    try:
        ColumnMapping.from_dict(mapping)
    except (StatementError, TypeError, ValueError) as error:
        raise DomainError("invalid", str(error), field="column_mapping") from None


def bank_account_for(account_text: str) -> BankAccount | None:
    """The organization's bank account a statement names (IBAN or number)."""
    compact = compact_account(account_text)
    if not compact:
        return None
    return (
        BankAccount.objects.filter(iban=compact).first()
        or BankAccount.objects.filter(account_number=compact).first()
    )


@transaction.atomic
def customer_bank_account_save(
    *,
    customer_bank_account: CustomerBankAccount | None = None,
    customer: Customer | None = None,
    account: str | None = None,
    payer_name: str | None = None,
    confirmed: bool | None = None,
    actor: Actor,
) -> CustomerBankAccount:
    """Create or correct a customer's bank account (a person's edit)."""
    record = customer_bank_account or CustomerBankAccount(
        organization=current_organization()
    )
    if customer is not None:
        record.customer = customer
    if account is not None:
        record.account = compact_account(account)
    if payer_name is not None:
        record.payer_name = payer_name.strip()
    if confirmed is not None:
        record.confirmed = confirmed
    if not record.account:
        raise DomainError("required", "Give the account number.", field="account")
    if record.customer_id is None:
        raise DomainError("required", "Name the customer.", field="customer")
    try:
        with transaction.atomic():
            record.save()
    except IntegrityError:
        raise ConflictError(
            "duplicate",
            f"Account {record.account} is already known for a customer.",
            field="account",
        ) from None
    audit_record(
        actor=actor,
        obj=record,
        action="updated" if customer_bank_account else "created",
        data={"customer": record.customer.number, "account": record.account},
    )
    return record


def customer_bank_account_learn(
    *, line: StatementLine, customer: Customer, actor: Actor
) -> CustomerBankAccount | None:
    """Remember the payer account of a confirmed match for the customer.

    An account already known for another customer is left alone (a shared account,
    e.g. a parent company's, must not silently move); a person edits it."""
    return customer_bank_accounts_learn([(line, customer)], actor=actor)[0]


def customer_bank_accounts_learn(
    matches: list[tuple[StatementLine, Customer]], *, actor: Actor
) -> list[CustomerBankAccount | None]:
    """:func:`customer_bank_account_learn` for several confirmed matches: one
    lookup of their accounts, and one INSERT of those not known yet (the first
    match of an account decides when two name it)."""
    accounts = [compact_account(line.payer_account) for line, _ in matches]
    known = {
        record.account: record
        for record in CustomerBankAccount.objects.filter(
            account__in={account for account in accounts if account}
        )
    }
    new, confirmed, result = [], [], []
    for (line, customer), account in zip(matches, accounts, strict=True):
        record = known.get(account) if account else None
        if not account:
            result.append(None)
            continue
        if record is None:
            record = CustomerBankAccount(
                organization=current_organization(),
                customer=customer,
                account=account,
                payer_name=line.payer_name[:200],
                learnt_from=line,
                confirmed=True,
            )
            known[account] = record
            new.append(record)
        elif record.customer_id == customer.pk and not record.confirmed:
            record.confirmed = True
            confirmed.append(record.pk)
        result.append(record)
    if confirmed:
        CustomerBankAccount.objects.filter(pk__in=confirmed).update(confirmed=True)
    for record in CustomerBankAccount.objects.bulk_create(new):
        audit_record(
            actor=actor,
            obj=record,
            action="learnt",
            data={
                "customer": record.customer.number,
                "account": record.account,
                "line": record.learnt_from_id,
            },
        )
    return result


def reconciliation_settings() -> ReconciliationSettings:
    """The organization's settings, created with the defaults on first use."""
    organization = current_organization()
    found = ReconciliationSettings.objects.filter().first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return ReconciliationSettings.objects.create(organization=organization)
    except IntegrityError:
        return ReconciliationSettings.objects.get()


@transaction.atomic
def reconciliation_settings_update(*, actor: Actor, **values) -> ReconciliationSettings:
    record = reconciliation_settings()
    for name, value in values.items():
        if name not in SETTINGS_FIELDS:
            raise DomainError("invalid", f"Unknown setting '{name}'.", field=name)
        setattr(record, name, value)
    if not 0 < record.auto_apply_threshold <= 100:
        raise DomainError(
            "invalid", "The threshold is 1 to 100.", field="auto_apply_threshold"
        )
    if record.auto_apply_margin > 100:
        raise DomainError(
            "invalid", "The margin is 0 to 100.", field="auto_apply_margin"
        )
    if not 0 <= int(record.discount_grace_days) <= 31:
        raise DomainError(
            "invalid",
            "Grace days for discounts are 0 to 31.",
            field="discount_grace_days",
        )
    amounts = record.short_payment_tolerance_amounts
    if not isinstance(amounts, dict):
        raise DomainError(
            "invalid",
            'Give tolerances per currency, e.g. {"EUR": "5.00"}.',
            field="short_payment_tolerance_amounts",
        )
    for currency, amount in amounts.items():
        validate_currency(currency)
        try:
            if Decimal(str(amount)) < 0:
                raise InvalidOperation
        except InvalidOperation:
            raise DomainError(
                "invalid_amount",
                f"Tolerance for {currency} must be an amount of zero or more.",
                field=f"short_payment_tolerance_amounts.{currency}",
            ) from None
    record.save()
    audit_record(
        actor=actor,
        obj=record,
        action="updated",
        data={k: str(v) for k, v in values.items()},
    )
    return record
