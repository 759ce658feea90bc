"""Customer master data, contacts, payment terms and catalog items."""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from o2c.errors import ConflictError, DomainError
from o2c.money import exact_amount, validate_currency
from o2c.services import Actor, audit_record, next_number
from o2c.tenancy import current_organization
from o2c.webhooks import event_emit
from orders.models import Contact, Customer, Item, PaymentTerm
from orders.services.terms import MAX_TERM_DAYS, clean_discount, clean_instalments

CUSTOMER_FIELDS = {
    "name", "legal_name", "email", "phone", "address", "country", "tax_id",
    "language", "currency", "payment_term", "credit_limit", "collector", "segment",
    "risk_class", "do_not_contact", "external_id", "number",
}  # fmt: skip


@transaction.atomic
def payment_term_create(
    *,
    name: str,
    kind: str,
    days: int = 0,
    instalments=None,
    discount_percent=0,
    discount_days: int = 0,
    actor: Actor,
) -> PaymentTerm:
    term = PaymentTerm(
        organization=current_organization(),
        name=(name or "").strip(),
        kind=kind,
        days=days,
        instalments=instalments or [],
        discount_percent=discount_percent,
        discount_days=discount_days,
    )
    _clean_payment_term(term)
    _save_unique(term, field="name", message=f"A term named '{term.name}' exists.")
    audit_record(actor=actor, obj=term, action="created")
    return term


PAYMENT_TERM_FIELDS = {
    "name", "kind", "days", "instalments", "discount_percent", "discount_days",
}  # fmt: skip


@transaction.atomic
def payment_term_update(*, term: PaymentTerm, actor: Actor, **fields) -> PaymentTerm:
    """Change a payment term. Invoices already issued keep their due dates and
    discount as issued; only invoices issued from now on use the new term."""
    unknown = set(fields) - PAYMENT_TERM_FIELDS
    if unknown:
        raise DomainError("unknown_field", f"Unknown: {sorted(unknown)}")
    term = PaymentTerm.objects.select_for_update().get(pk=term.pk)
    before = {name: _jsonable(getattr(term, name)) for name in fields}
    for name, value in fields.items():
        setattr(term, name, value)
    if "name" in fields:
        term.name = (term.name or "").strip()
    _clean_payment_term(term)
    _save_unique(term, field="name", message=f"A term named '{term.name}' exists.")
    changes = {
        name: [before[name], _jsonable(getattr(term, name))]
        for name in fields
        if before[name] != _jsonable(getattr(term, name))
    }
    if changes:
        audit_record(actor=actor, obj=term, action="updated", data=changes)
    return term


def _clean_payment_term(term: PaymentTerm) -> None:
    if not term.name:
        raise DomainError("required", _("Name is required."), field="name")
    if term.kind not in PaymentTerm.Kind.values:
        raise DomainError(
            "invalid_choice",
            _("Unknown kind '%(kind)s'.") % {"kind": term.kind},
            field="kind",
        )
    if not (0 <= int(term.days) <= MAX_TERM_DAYS):
        raise DomainError(
            "invalid_days",
            _("Days must be 0 to %(max_days)s.") % {"max_days": MAX_TERM_DAYS},
            field="days",
        )
    term.instalments = clean_instalments(term.kind, term.instalments or [])
    term.discount_percent, term.discount_days = clean_discount(
        term.kind, term.days, term.discount_percent, term.discount_days
    )


@transaction.atomic
def customer_create(*, actor: Actor, **fields) -> Customer:
    unknown = set(fields) - CUSTOMER_FIELDS
    if unknown:
        raise DomainError(
            "unknown_field", _("Unknown: %(names)s") % {"names": sorted(unknown)}
        )
    organization = current_organization()
    customer = Customer(organization=organization, **fields)
    customer.currency = validate_currency(
        customer.currency or organization.base_currency
    )
    _clean_customer(customer)
    if not customer.number:
        customer.number = next_number("customer", prefix="C")
    _save_unique(customer, field="number", message="Customer number already used.")
    audit_record(actor=actor, obj=customer, action="created")
    return customer


@transaction.atomic
def customer_update(*, customer: Customer, actor: Actor, **fields) -> Customer:
    unknown = set(fields) - CUSTOMER_FIELDS
    if unknown:
        raise DomainError(
            "unknown_field", _("Unknown: %(names)s") % {"names": sorted(unknown)}
        )
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    changes = {}
    for name, value in fields.items():
        old = getattr(customer, name)
        if old != value:
            setattr(customer, name, value)
            changes[name] = [_jsonable(old), _jsonable(value)]
    if "currency" in fields:
        customer.currency = validate_currency(customer.currency)
    _clean_customer(customer)
    _save_unique(customer, field="number", message="Customer number already used.")
    if changes:
        audit_record(actor=actor, obj=customer, action="updated", data=changes)
    return customer


@transaction.atomic
def customer_set_credit_hold(
    *, customer: Customer, on_hold: bool, reason: str = "", actor: Actor
) -> Customer:
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.on_credit_hold != on_hold:
        customer.on_credit_hold = on_hold
        customer.save(update_fields=["on_credit_hold"])
        audit_record(
            actor=actor,
            obj=customer,
            action="credit_hold" if on_hold else "credit_release",
            from_status="hold" if not on_hold else "",
            to_status="hold" if on_hold else "",
            data={"reason": reason},
        )
        event_emit("customer.credit_hold_changed", customer)
    return customer


@transaction.atomic
def contact_create(*, customer: Customer, actor: Actor, **fields) -> Contact:
    contact = Contact.objects.create(
        organization=current_organization(), customer=customer, **fields
    )
    audit_record(actor=actor, obj=contact, action="created")
    return contact


CONTACT_FIELDS = {"name", "email", "phone", "role", "is_primary"}


@transaction.atomic
def contact_update(*, contact: Contact, actor: Actor, **fields) -> Contact:
    unknown = set(fields) - CONTACT_FIELDS
    if unknown:
        raise DomainError(
            "unknown_field", _("Unknown: %(names)s") % {"names": sorted(unknown)}
        )
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    changes = {}
    for name, value in fields.items():
        old = getattr(contact, name)
        if old != value:
            setattr(contact, name, value)
            changes[name] = [_jsonable(old), _jsonable(value)]
    if not (contact.name or "").strip():
        raise DomainError("required", _("Name is required."), field="name")
    contact.save()
    if changes:
        audit_record(actor=actor, obj=contact, action="updated", data=changes)
    return contact


@transaction.atomic
def contact_remove(*, contact: Contact, actor: Actor) -> None:
    # The audit row keeps who the contact was; the row itself has no history.
    audit_record(
        actor=actor,
        obj=contact,
        action="removed",
        data={"name": contact.name, "email": contact.email, "role": contact.role},
    )
    contact.delete()


@transaction.atomic
def item_create(
    *, sku, name, unit_price, currency, tax_rate=0, active=True, actor: Actor
) -> Item:
    currency = validate_currency(currency)
    item = Item(
        organization=current_organization(),
        sku=sku,
        name=name,
        unit_price=exact_amount(unit_price, currency, field="unit_price"),
        currency=currency,
        tax_rate=tax_rate,
        active=active,
    )
    if item.unit_price < 0:
        raise DomainError(
            "invalid_amount", _("Price must not be negative."), field="unit_price"
        )
    if not (0 <= Decimal(tax_rate) <= 100):
        raise DomainError(
            "invalid_tax_rate",
            _("Tax rate is a percent between 0 and 100."),
            field="tax_rate",
        )
    _save_unique(item, field="sku", message=f"SKU '{sku}' already exists.")
    audit_record(actor=actor, obj=item, action="created")
    return item


def _clean_customer(customer: Customer) -> None:
    if not (customer.name or "").strip():
        raise DomainError("required", _("Name is required."), field="name")
    # Without this the NOT NULL failure below would be reported as a duplicate.
    if customer.payment_term_id is None:
        raise DomainError(
            "required", _("Payment terms are required."), field="payment_term"
        )
    # An integration finds its customer by this id, so two must not share one.
    # Only a partial unique index would also stop two concurrent creates.
    duplicate = Customer.objects.filter(external_id=customer.external_id).exclude(
        pk=customer.pk
    )
    if customer.external_id and duplicate.exists():
        raise ConflictError(
            "duplicate",
            _("A customer with external id '%(external_id)s' exists.")
            % {"external_id": customer.external_id},
            field="external_id",
        )
    if customer.credit_limit is not None:
        customer.credit_limit = exact_amount(
            customer.credit_limit, customer.currency, field="credit_limit"
        )
        if customer.credit_limit < 0:
            raise DomainError(
                "invalid_amount",
                _("Credit limit must not be negative."),
                field="credit_limit",
            )


def _save_unique(obj, *, field: str, message: str) -> None:
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError:
        raise ConflictError("duplicate", message, field=field) from None


def _jsonable(value):
    if hasattr(value, "pk"):
        return value.pk
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)
