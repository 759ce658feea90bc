"""Customer master data, items and contacts."""

from decimal import Decimal

import pytest

from o2c.errors import ConflictError, DomainError
from o2c.models import AuditEvent
from o2c.tenancy import tenant_context
from orders.models import Customer, Item
from orders.selectors import customer_filter_choices
from orders.services.master import (
    customer_create,
    customer_set_credit_hold,
    customer_update,
    item_create,
    payment_term_create,
)
from tests.factories import SYSTEM, CustomerFactory, PaymentTermFactory


@pytest.fixture
def term(tenant):
    return PaymentTermFactory()


def test_customer_gets_the_next_number_and_the_base_currency(tenant, term):
    customer = customer_create(name="Acme", payment_term=term, actor=SYSTEM)
    second = customer_create(name="Beta", payment_term=term, actor=SYSTEM)
    assert (customer.number, second.number) == ("C000001", "C000002")
    assert customer.currency == tenant.base_currency == "EUR"
    assert AuditEvent.objects.filter(
        object_type="orders.customer", object_id=str(customer.pk), action="created"
    ).exists()


def test_customer_credit_limit_is_exact_in_its_currency(term):
    customer = customer_create(
        name="Tokyo KK",
        currency="jpy",
        credit_limit=Decimal("500000"),
        payment_term=term,
        actor=SYSTEM,
    )
    assert (customer.currency, customer.credit_limit) == ("JPY", Decimal(500000))
    with pytest.raises(DomainError) as refused:
        customer_create(
            name="Kuwait Co",
            currency="KWD",
            credit_limit=Decimal("1.0005"),
            payment_term=term,
            actor=SYSTEM,
        )
    assert refused.value.field == "credit_limit"
    with pytest.raises(DomainError) as refused:
        customer_create(
            name="Neg", credit_limit=Decimal("-1"), payment_term=term, actor=SYSTEM
        )
    assert refused.value.field == "credit_limit"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": " "}, "name"),
        ({"name": "X", "currency": "EURO"}, "currency"),
        ({"name": "X", "payment_term": None}, "payment_term"),
    ],
)
def test_invalid_customers_are_refused_with_the_field(term, fields, field):
    fields.setdefault("payment_term", term)
    with pytest.raises(DomainError) as refused:
        customer_create(actor=SYSTEM, **fields)
    assert refused.value.field == field
    assert not Customer.objects.exists()


def test_unknown_customer_fields_are_refused(term):
    with pytest.raises(DomainError):
        customer_create(name="X", payment_term=term, colour="red", actor=SYSTEM)


def test_customer_numbers_are_unique(term):
    customer_create(name="A", number="K-1", payment_term=term, actor=SYSTEM)
    with pytest.raises(ConflictError) as refused:
        customer_create(name="B", number="K-1", payment_term=term, actor=SYSTEM)
    assert refused.value.field == "number"


def test_customer_update_audits_what_changed(term):
    customer = customer_create(name="Acme", payment_term=term, actor=SYSTEM)
    customer = customer_update(
        customer=customer,
        name="Acme GmbH",
        credit_limit=Decimal("2500.00"),
        segment="wholesale",
        actor=SYSTEM,
    )
    event = AuditEvent.objects.get(object_id=str(customer.pk), action="updated")
    assert event.data == {
        "name": ["Acme", "Acme GmbH"],
        "credit_limit": [None, "2500.00"],
        "segment": ["", "wholesale"],
    }
    customer_update(customer=customer, name="Acme GmbH", actor=SYSTEM)
    assert AuditEvent.objects.filter(action="updated").count() == 1


def test_credit_hold_is_audited_with_its_reason(term):
    customer = customer_create(name="Acme", payment_term=term, actor=SYSTEM)
    customer_set_credit_hold(
        customer=customer, on_hold=True, reason="NSF cheque", actor=SYSTEM
    )
    customer_set_credit_hold(customer=customer, on_hold=True, actor=SYSTEM)
    customer_set_credit_hold(customer=customer, on_hold=False, actor=SYSTEM)
    events = list(
        AuditEvent.objects.filter(object_id=str(customer.pk))
        .exclude(action="created")
        .order_by("pk")
        .values_list("action", "data")
    )
    assert events == [
        ("credit_hold", {"reason": "NSF cheque"}),
        ("credit_release", {"reason": ""}),
    ]
    assert Customer.objects.get(pk=customer.pk).on_credit_hold is False


def test_payment_term_names_are_unique(tenant):
    payment_term_create(name="Net 14", kind="net", days=14, actor=SYSTEM)
    with pytest.raises(ConflictError) as refused:
        payment_term_create(name="Net 14", kind="net", days=15, actor=SYSTEM)
    assert refused.value.field == "name"


def test_items_are_priced_exactly_and_have_unique_skus(tenant):
    item = item_create(
        sku="B-1",
        name="Bolt",
        unit_price="0.125",
        currency="KWD",
        tax_rate=Decimal("5"),
        actor=SYSTEM,
    )
    assert (item.unit_price, item.currency) == (Decimal("0.125"), "KWD")
    with pytest.raises(ConflictError) as refused:
        item_create(
            sku="B-1", name="Bolt", unit_price="1", currency="EUR", actor=SYSTEM
        )
    assert refused.value.field == "sku"
    with pytest.raises(DomainError) as refused:
        item_create(
            sku="B-2", name="Bolt", unit_price="1.5", currency="JPY", actor=SYSTEM
        )
    assert refused.value.field == "unit_price"


@pytest.mark.parametrize("tax_rate", [Decimal("-1"), Decimal("100.5")])
def test_item_tax_rate_is_a_percent(tenant, tax_rate):
    with pytest.raises(DomainError) as refused:
        item_create(
            sku="T-1",
            name="Taxed",
            unit_price="1.00",
            currency="EUR",
            tax_rate=tax_rate,
            actor=SYSTEM,
        )
    assert refused.value.field == "tax_rate"
    assert not Item.objects.exists()


def test_the_filters_offer_the_segments_and_currencies_in_use(org, other_org):
    """Each once, in order, blank segments left out, another organization's
    values never shown (on PostgreSQL read by a skip scan of an index)."""
    with tenant_context(other_org):
        CustomerFactory(currency="CHF", segment="Zoo")
    with tenant_context(org):
        for currency, segment in [
            ("USD", "Retail"),
            ("EUR", ""),
            ("EUR", "Enterprise"),
            ("USD", "Retail"),
            ("GBP", "Enterprise"),
        ]:
            CustomerFactory(currency=currency, segment=segment)
        choices = customer_filter_choices()
        assert choices.currencies == ["EUR", "GBP", "USD"]
        assert choices.segments == ["Enterprise", "Retail"]
