"""A payer recognised by the name on the bank line, without a known account:
normalised, scored, found through an index, and applied only when the name is
strong, unique and the amount is exactly one open invoice's."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from invoicing.models import Invoice
from orders.models import Customer
from reconciliation.matching.names import customers_named, name_score, normalise
from reconciliation.models import StatementLine
from reconciliation.services.matching import lines_match
from tests.conftest import as_table_owner
from tests.factories import CustomerFactory, issued_invoice
from tests.reconciliation.bank import entry, import_statements, main_account, statement

L = StatementLine.Status
JAN = date(2026, 1, 10)


@pytest.fixture
def account(tenant):
    return main_account()


def receive(account, *entries):
    result = import_statements(account, [statement(list(entries))])
    lines_match(line_ids=result.new_credit_line_ids)
    return [StatementLine.objects.get(pk=pk) for pk in result.new_credit_line_ids]


def from_payer(amount, name, **fields):
    return entry(
        amount,
        payer_name=name,
        payer_account=fields.pop("payer_account", "DE44500105175407324931"),
        remittance=fields.pop("remittance", "Zahlung"),
        **fields,
    )


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("ACME GMBH", "ACME"),
        ("Acme GmbH & Co. KG", "ACME"),
        ("The Acme Company Ltd.", "ACME"),
        ("ACME, INC.", "ACME"),
        ("Müller Maschinenbau AG", "MULLER MASCHINENBAU"),
        ("MUELLER MASCHINENBAU", "MULLER MASCHINENBAU"),
        ("Société Générale S.A.", "SOCIETE GENERALE"),
        ("Brouwerij De Molen B.V.", "BROUWERIJ MOLEN"),
        ("Rossi S.r.l.", "ROSSI"),
        ("Dupont SARL", "DUPONT"),
        ("AG", "AG"),  # nothing but a legal form: kept rather than emptied
    ],
)
def test_names_are_normalised(written, expected):
    assert normalise(written) == expected


def test_scores_say_how_alike_two_names_are():
    assert name_score(normalise("ACME GMBH"), normalise("Acme GmbH")) == 100
    assert name_score(normalise("MUELLER MASCHINENBAU"), normalise("Müller AG")) < 75
    # A bank's cut of a long name still reads as that name.
    long_name = normalise("Nordstern Logistik und Spedition Hamburg GmbH")
    assert name_score(normalise("NORDSTERN LOGISTIK UND SPED"), long_name) == 100


def test_strong_unique_name_with_one_invoice_amount_is_applied(account, tenant):
    customer = CustomerFactory(name="Acme GmbH")
    CustomerFactory(name="Hanse Logistik GmbH")
    invoice = issued_invoice(customer, "1234.56", invoice_date=JAN)
    issued_invoice(customer, "99.00", invoice_date=JAN)

    (line,) = receive(account, from_payer("1234.56", "ACME GMBH"))

    assert line.status == L.MATCHED_AUTO
    assert line.confidence == 95
    assert f"payer name 'ACME GMBH' matches customer {customer.number} Acme GmbH" in (
        line.match_reason
    )
    assert "(100 %)" in line.match_reason
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID


def test_name_with_a_sum_of_invoices_waits_in_the_queue(account, tenant):
    customer = CustomerFactory(name="Acme GmbH")
    first = issued_invoice(customer, "100.00", invoice_date=JAN)
    second = issued_invoice(customer, "250.00", invoice_date=JAN)

    (line,) = receive(account, from_payer("350.00", "ACME GMBH"))

    assert line.status == L.NEEDS_REVIEW
    suggestion = line.suggestions.first()
    assert {item["number"] for item in suggestion.invoices} == {
        first.number,
        second.number,
    }
    assert "payer name 'ACME GMBH' matches customer" in suggestion.reasons[0]


def test_two_customers_of_like_names_wait_for_a_person(account, tenant):
    hamburg = CustomerFactory(name="Nordstern Logistik Hamburg GmbH")
    CustomerFactory(name="Nordstern Logistik Bremen GmbH")
    issued_invoice(hamburg, "700.00", invoice_date=JAN)

    (line,) = receive(account, from_payer("700.00", "NORDSTERN LOGISTIK"))

    assert line.status == L.NEEDS_REVIEW
    assert "also resembles" in " ".join(line.suggestions.first().reasons)


def test_a_weak_name_is_not_applied(account, tenant):
    customer = CustomerFactory(name="Acme Handelsgesellschaft GmbH")
    issued_invoice(customer, "480.00", invoice_date=JAN)

    (line,) = receive(account, from_payer("480.00", "ACME HANDEL"))

    assert line.status == L.NEEDS_REVIEW


def test_name_without_matching_amount_suggests_the_account(account, tenant):
    customer = CustomerFactory(name="Acme GmbH")
    issued_invoice(customer, "100.00", invoice_date=JAN)

    (line,) = receive(account, from_payer("77.00", "ACME GMBH"))

    assert line.status == L.NEEDS_REVIEW
    suggestion = line.suggestions.first()
    assert (suggestion.customer, suggestion.action) == (customer, "on_account")


def test_text_naming_another_invoice_keeps_the_name_out(account, tenant):
    customer = CustomerFactory(name="Acme GmbH")
    paid = issued_invoice(customer, "100.00", invoice_date=JAN)
    issued_invoice(customer, "100.00", invoice_date=date(2026, 1, 12))
    receive(account, from_payer("100.00", "ACME", remittance=f"Invoice {paid.number}"))

    # The same invoice paid again: the name must not move the cash elsewhere.
    (line,) = receive(
        account,
        from_payer(
            "100.00",
            "ACME GMBH",
            remittance=f"Invoice {paid.number}",
            bank_reference="again",
            payer_account="DE02100100109307118603",
        ),
    )

    assert line.status == L.NEEDS_REVIEW


def test_name_lookup_is_an_indexed_lookup(tenant):
    acme = CustomerFactory(name="Acme GmbH")
    # Enough customers that reading them all would cost more than the index.
    Customer.objects.bulk_create(
        Customer(
            organization=tenant,
            number=f"B{n:05d}",
            name=f"Bulk Trading {n} Ltd",
            currency="EUR",
            payment_term=acme.payment_term,
        )
        for n in range(20_000 if connection.vendor == "postgresql" else 2000)
    )
    with as_table_owner(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # As autovacuum would: the bulk insert sits in the GIN pending list.
            cursor.execute("SELECT gin_clean_pending_list('customer_name_trgm_idx')")
        cursor.execute("ANALYZE orders_customer")
    with CaptureQueriesContext(connection) as queries:
        assert [m.customer.name for m in customers_named("ACME GMBH")] == ["Acme GmbH"]
    (query,) = [q["sql"] for q in queries.captured_queries]
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {query}")
            plan = " ".join(str(row) for row in cursor.fetchall())
            assert "customer_upper_name_idx" in plan, plan
        else:
            cursor.execute(f"EXPLAIN {query}")
            plan = " ".join(row[0] for row in cursor.fetchall())
            assert "customer_name_trgm_idx" in plan, plan
        assert "SCAN orders_customer\n" not in plan and "Seq Scan" not in plan


@pytest.mark.postgres
def test_trigram_lookup_finds_names_written_differently(tenant):
    CustomerFactory(name="Müller Maschinenbau AG")
    CustomerFactory(name="Brouwerij De Molen B.V.")
    for _ in range(30):
        CustomerFactory()

    found = customers_named("MUELLER MASCHINENBAU")
    assert [m.customer.name for m in found][:1] == ["Müller Maschinenbau AG"]
    assert found[0].score == 100
    assert [m.customer.name for m in customers_named("BROUWERIJ DE MOLEN")][:1] == [
        "Brouwerij De Molen B.V."
    ]
    assert customers_named("Unknown Payer 17") == []


def test_amounts_in_reasons_are_exact(account, tenant):
    customer = CustomerFactory(name="Acme GmbH")
    invoice = issued_invoice(customer, "1234.56", invoice_date=JAN)
    (line,) = receive(account, from_payer("1234.56", "Acme"))
    payment = line.payments.get()
    assert payment.allocations.get().invoice == invoice
    assert payment.allocations.get().amount == Decimal("1234.56")
