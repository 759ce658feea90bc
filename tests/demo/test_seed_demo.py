from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db.models import Count, Sum

from invoicing.models import CreditNote, Invoice, InvoicePrediction, LedgerEntry
from o2c.models import Membership, Organization, Role
from o2c.money import quantize
from o2c.tenancy import tenant_context
from orders.models import Contact, Customer, PaymentTerm, SalesOrder
from reconciliation.models import Allocation, Payment, WriteOff
from tests.conftest import as_table_owner
from tests.factories import issued_invoice

TODAY = date(2026, 3, 16)
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(datetime(2026, 3, 16, 9, 0, tzinfo=UTC), tick=False):
        yield


def seed(*args) -> str:
    out = StringIO()
    call_command("seed_demo", "--customers", "30", "--months", "6", *args, stdout=out)
    return out.getvalue()


def demo() -> Organization:
    return Organization.objects.get(slug="demo")


def fingerprint() -> dict:
    """Figures a finance person would compare between two loads."""
    with tenant_context(demo()):
        invoices = Invoice.objects.values("currency").annotate(
            count=Count("pk"), total=Sum("total"), open=Sum("open_amount")
        )
        payments = Payment.objects.values("currency").annotate(
            count=Count("pk"), amount=Sum("amount"), unapplied=Sum("unapplied_amount")
        )
        return {
            "invoices": sorted((r["currency"], r["count"], r["total"], r["open"])
                               for r in invoices),
            "payments": sorted((r["currency"], r["count"], r["amount"], r["unapplied"])
                               for r in payments),
            "customers": list(Customer.objects.order_by("number").values_list(
                "number", "name", "currency", "segment", "on_credit_hold")),
            "last_invoice": Invoice.objects.order_by("-number").values_list(
                "number", "invoice_date", "total").first(),
        }  # fmt: skip


def test_seed_creates_a_consistent_company_and_prints_the_login():
    output = seed()

    assert "admin@demo.o2c" in output and "demo-password-1" in output
    organization = demo()
    assert organization.name == "Northwind Supplies GmbH"
    assert organization.base_currency == "EUR"
    assert organization.timezone == "Europe/Berlin"
    assert "IBAN DE89" in organization.payment_instructions
    roles = count_by(Membership.objects.filter(organization=organization), "role")
    assert roles[Role.ADMIN] == 1 and roles[Role.FINANCE] == 1
    assert roles[Role.VIEWER] == 1 and 3 <= roles[Role.COLLECTOR] <= 5
    verify = StringIO()
    call_command("verify_ledger", "--org", "demo", stdout=verify)
    assert "demo: ledger consistent" in verify.getvalue()


def test_history_has_what_collections_and_cash_application_work_on():
    seed()
    with tenant_context(demo()):
        issued = Invoice.objects.filter(status__in=Invoice.ISSUED)
        assert issued.count() > 150
        overdue = issued.filter(
            status__in=(Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID),
            due_date__lt=TODAY,
        )
        assert overdue.exists()
        assert issued.filter(status=Invoice.Status.PARTIALLY_PAID).exists()
        assert issued.filter(status=Invoice.Status.PAID).count() > issued.count() / 2
        assert CreditNote.objects.exists()
        assert Payment.objects.filter(unapplied_amount__gt=0).exists()
        assert {"EUR", "USD", "GBP"} <= set(
            Invoice.objects.values_list("currency", flat=True)
        )
        # Every date is on or before the organization's today.
        assert not Invoice.objects.filter(invoice_date__gt=TODAY).exists()
        assert not LedgerEntry.objects.filter(posting_date__gt=TODAY).exists()
        # A paid invoice's settled date is its last posting.
        paid = issued.filter(status=Invoice.Status.PAID).first()
        last = paid.ledger_entries.order_by("-posting_date").first().posting_date
        assert paid.settled_date == last
        assert Contact.objects.filter(role=Contact.Role.AP_CLERK).count() == 30
        assert PaymentTerm.objects.filter(kind=PaymentTerm.Kind.INSTALMENTS).exists()
        assert SalesOrder.objects.filter(status=SalesOrder.Status.INVOICED).exists()
        assert Customer.objects.filter(collector__isnull=False).count() > 20
        # Some customers buy on "2/10 net 30": their invoices carry the discount
        # as issued, 2 % of the total, ten days after the invoice date.
        two_ten = PaymentTerm.objects.get(name="2/10 net 30")
        assert (two_ten.discount_percent, two_ten.discount_days) == (2, 10)
        discounted = issued.filter(customer__payment_term=two_ten)
        assert discounted.exists()
        for invoice in discounted:
            assert invoice.discount_amount == quantize(
                invoice.total * Decimal("0.02"), invoice.currency
            )
            assert (invoice.discount_date - invoice.invoice_date).days == 10
        assert not issued.exclude(customer__payment_term=two_ten).filter(
            discount_amount__isnull=False
        )
        # Every open invoice is scored from the first login, as the nightly run
        # would score it (six months of 30 customers: the baseline serves).
        open_invoices = issued.filter(
            status__in=(Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID)
        )
        predictions = InvoicePrediction.objects.filter(invoice__in=open_invoices)
        assert predictions.count() == open_invoices.count()
        for prediction in predictions:
            assert prediction.earliest_date <= prediction.expected_date
            assert prediction.expected_date <= prediction.latest_date


def test_cached_amounts_agree_with_the_ledger():
    seed()
    with tenant_context(demo()):
        for invoice in Invoice.objects.annotate(
            ledger=Sum("ledger_entries__amount")
        ).exclude(status=Invoice.Status.DRAFT):
            ledger = quantize(invoice.ledger or 0, invoice.currency)
            assert invoice.open_amount == ledger, invoice.number
        applied = defaultdict(Decimal)
        for payment_id, amount in Allocation.objects.values_list("payment", "amount"):
            applied[payment_id] += amount
        for payment in Payment.objects.all():
            assert applied[payment.pk] == payment.amount - payment.unapplied_amount
        balance = LedgerEntry.objects.filter(currency="EUR").aggregate(
            total=Sum("amount")
        )["total"]
        open_eur = Invoice.objects.filter(currency="EUR").aggregate(
            total=Sum("open_amount")
        )["total"]
        unapplied_eur = Payment.objects.filter(currency="EUR").aggregate(
            total=Sum("unapplied_amount")
        )["total"]
        assert quantize(balance, "EUR") == open_eur - unapplied_eur


def test_services_continue_the_numbering_without_a_gap():
    seed()
    with tenant_context(demo()):
        last = Invoice.objects.exclude(number=None).order_by("-number").first()
        invoice = issued_invoice(Customer.objects.first(), "10.00", invoice_date=TODAY)
    assert int(invoice.number.removeprefix("INV-")) == (
        int(last.number.removeprefix("INV-")) + 1
    )


def test_same_seed_gives_the_same_company_and_another_seed_does_not():
    seed()
    first = fingerprint()
    # --reset lifts the ledger's append-only trigger: the tables' owner runs it.
    with as_table_owner():
        seed("--reset")
    assert fingerprint() == first
    with as_table_owner():
        seed("--reset", "--seed", "7")
    assert fingerprint() != first


def test_second_call_without_reset_changes_nothing():
    seed()
    before = fingerprint()
    with tenant_context(demo()):
        write_offs = WriteOff.objects.count()

    output = seed()

    assert "exists; nothing to do" in output
    assert fingerprint() == before
    with tenant_context(demo()):
        assert WriteOff.objects.count() == write_offs
    assert Organization.objects.filter(slug="demo").count() == 1


def test_amounts_are_exact_in_each_currency():
    seed()
    with tenant_context(demo()):
        yen = Invoice.objects.filter(currency="JPY")
        assert yen.exists()
        for total in yen.values_list("total", flat=True):
            assert total == total.to_integral_value()
        for amount in Invoice.objects.filter(currency="EUR").values_list(
            "total", flat=True
        )[:50]:
            assert amount == amount.quantize(Decimal("0.01"))


def count_by(queryset, field) -> dict:
    return {
        row[field]: row["n"] for row in queryset.values(field).annotate(n=Count("pk"))
    }


def test_the_demo_leaves_portal_links_and_portal_actions(client):
    from urllib.parse import urlsplit

    from collecting.models import Dispute, PromiseToPay, Source
    from reconciliation.models import RemittanceAdvice

    output = seed()
    links = [word for word in output.split() if "/portal/t/" in word]
    assert len(links) == 3
    with tenant_context(demo()):
        assert Dispute.objects.filter(source=Source.PORTAL).count() == 1
        assert PromiseToPay.objects.filter(source=Source.PORTAL).count() == 1
        assert RemittanceAdvice.objects.count() == 1
    page = client.get(urlsplit(links[0]).path, follow=True)
    assert page.status_code == 200
    assert page.redirect_chain[-1][0] == "/portal/"
    assert "/portal/invoices/" in page.content.decode()  # the customer's invoices
