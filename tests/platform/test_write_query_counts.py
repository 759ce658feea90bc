"""How many queries one document costs through the services.

Integrations push invoices and payments one by one at their own pace; each query
is a round trip to the database under the document's locks. These ceilings are
what the services need today (savepoint and release of the service's own atomic
block included, as the tests run inside a transaction): a change that adds a
re-read, a second lock, an audit row written on its own or a query per line
fails here and has to say why.

Every call writes its events (``o2c.webhooks``) in one INSERT, whatever their
number; with no webhook endpoint in the organization that is all they cost.

Once its checks are done the ledger sends its writes — the invoices' open amounts
and statuses, the receivables summary's upsert and the entries — in one round
trip on PostgreSQL (``o2c.rows.RoundTrip``), one statement after the other
elsewhere: ``LEDGER_WRITES`` below.
"""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection, transaction

from invoicing.models import Invoice
from invoicing.references import payment_reference
from invoicing.services.batch import BatchInvoice, invoice_batch_create
from invoicing.services.invoices import LineInput, invoice_create, invoice_issue
from o2c.errors import ConflictError
from o2c.services import request_transaction
from orders.models import Customer
from reconciliation.matching.engine import MatchContext
from reconciliation.models import StatementLine
from reconciliation.services.bank_accounts import reconciliation_settings
from reconciliation.services.matching import line_match, lines_match
from reconciliation.services.payments import AllocationInput, payment_create
from tests.factories import SYSTEM, CustomerFactory, issued_invoice
from tests.reconciliation.bank import entry, import_statements, main_account, statement

pytestmark = pytest.mark.django_db
JAN = date(2026, 1, 5)
LEDGER_WRITES = 1 if connection.vendor == "postgresql" else 3
# An invoice's lines and instalments: one round trip on PostgreSQL.
LINES_AND_INSTALMENTS = 1 if connection.vendor == "postgresql" else 2
# A service's audit events and events, written when it ends: one round trip on
# PostgreSQL (o2c.services.audit_batch).
AUDIT_AND_EVENTS = 1 if connection.vendor == "postgresql" else 2


@pytest.fixture
def customer(tenant):
    customer = CustomerFactory()
    # Warm the sequences (first use creates their rows) and Django's caches.
    invoice = issued_invoice(customer, "1.00", invoice_date=JAN)
    payment_create(
        customer=customer,
        amount=invoice.total,
        currency="EUR",
        received_date=JAN,
        allocations=[AllocationInput(invoice, invoice.total)],
        actor=SYSTEM,
    )
    return Customer.objects.select_related("payment_term").get(pk=customer.pk)


def lines(count=1):
    return [
        LineInput(
            description=f"Line {n}",
            quantity=Decimal(2),
            unit_price=Decimal("50.00"),
            tax_rate=Decimal(19),
        )
        for n in range(count)
    ]


def test_invoice_create_is_one_insert_per_table(customer, django_assert_num_queries):
    # invoice, lines (one INSERT for all) and instalments, audit event and event
    with django_assert_num_queries(2 + 1 + LINES_AND_INSTALMENTS + AUDIT_AND_EVENTS):
        invoice_create(
            customer=customer, invoice_date=JAN, lines=lines(5), actor=SYSTEM
        )


def test_invoice_issue(customer, django_assert_num_queries):
    draft = invoice_create(
        customer=customer, invoice_date=JAN, lines=lines(), actor=SYSTEM
    )
    # lock, number (UPDATE … RETURNING), ledger writes (debit, open amount,
    # receivables summary upsert), number and status UPDATE, delivery row,
    # audit events (one INSERT) and event
    with django_assert_num_queries(2 + 4 + LEDGER_WRITES + AUDIT_AND_EVENTS):
        invoice = invoice_issue(invoice=draft, actor=SYSTEM)
    assert (invoice.number, invoice.status, invoice.open_amount) == (
        "INV-000002",
        "open",
        Decimal("119.00"),
    )


def test_a_request_s_service_runs_without_a_savepoint(
    customer, django_assert_num_queries
):
    """Called by a write request (``request_transaction``, as every API write
    is), a service shares the request's transaction: two queries fewer than
    the savepoint and release of ``test_invoice_create_is_one_insert_per_table``."""
    with (
        request_transaction(),
        django_assert_num_queries(1 + LINES_AND_INSTALMENTS + AUDIT_AND_EVENTS),
    ):
        invoice_create(
            customer=customer, invoice_date=JAN, lines=lines(5), actor=SYSTEM
        )


def test_a_service_failing_in_a_request_fails_the_whole_request(customer):
    """Without a savepoint, a refusal leaves the request's transaction to roll
    back: nothing of the request stays, not what came before the service."""
    before = Invoice.objects.count()
    with pytest.raises(ConflictError), request_transaction():
        invoice = invoice_create(
            customer=customer, invoice_date=JAN, lines=lines(), issue=True, actor=SYSTEM
        )
        invoice_issue(invoice=invoice, actor=SYSTEM)  # already open: refused
    assert Invoice.objects.count() == before


def test_a_service_inside_another_block_of_the_request_keeps_its_savepoint(customer):
    """A caller inside the request that may go on after a service's refusal (its
    own atomic block between them) still has the service's savepoint to go on
    from."""
    invoice = issued_invoice(customer, "10.00", invoice_date=JAN)
    with request_transaction(), transaction.atomic():
        with pytest.raises(ConflictError):
            invoice_issue(invoice=invoice, actor=SYSTEM)  # already open: refused
        assert Invoice.objects.filter(pk=invoice.pk, status="open").exists()


def test_payment_with_one_allocation(customer, django_assert_num_queries):
    invoice = issued_invoice(customer, "119.00", invoice_date=JAN)
    # number, invoice lock (with the date of its latest entry: a payment dated
    # on or after it needs none of its history), payment, allocations, ledger
    # writes (invoice status and open amount in one UPDATE, receivables summary
    # upsert, entries), audit events and events (received, applied, paid: one
    # INSERT each)
    with django_assert_num_queries(2 + 4 + LEDGER_WRITES + AUDIT_AND_EVENTS):
        payment = payment_create(
            customer=customer,
            amount=Decimal("119.00"),
            currency="EUR",
            received_date=JAN,
            allocations=[AllocationInput(invoice, Decimal("119.00"))],
            actor=SYSTEM,
        )
    invoice.refresh_from_db()
    assert (invoice.status, invoice.open_amount) == ("paid", Decimal(0))
    assert payment.unapplied_amount == 0


def test_more_allocations_cost_no_more_queries(customer, django_assert_num_queries):
    """Four invoices paid cost one UPDATE, as one does."""
    invoices = [issued_invoice(customer, "100.00", invoice_date=JAN) for _ in range(4)]
    with django_assert_num_queries(2 + 4 + LEDGER_WRITES + AUDIT_AND_EVENTS):
        payment_create(
            customer=customer,
            amount=Decimal("450.00"),
            currency="EUR",
            received_date=JAN,
            allocations=[AllocationInput(i, Decimal("100.00")) for i in invoices],
            actor=SYSTEM,
        )
    for invoice in invoices:
        invoice.refresh_from_db()
    assert [i.status for i in invoices] == ["paid"] * 4


def test_a_bank_line_matched_and_applied(customer, django_assert_max_num_queries):
    account = main_account()
    invoices = [issued_invoice(customer, "480.00", invoice_date=JAN) for _ in range(2)]
    result = import_statements(
        account,
        [
            statement(
                [
                    entry(
                        "480.00",
                        structured_reference=payment_reference(i).replace(" ", ""),
                        payer_name="Hanse Logistik",
                    )
                    for i in invoices
                ]
            )
        ],
    )
    first, second = result.new_credit_line_ids
    lines_match(line_ids=[first])
    context = MatchContext.load(reconciliation_settings())  # once per job
    # The line's lock, the engine's candidates and suggestions, the payment and
    # its allocation (as above), the line's status, one audit INSERT for all of
    # it, the receivables summary's upsert, and the savepoints of line_match,
    # its apply and the two services.
    with django_assert_max_num_queries(25):
        line_match(line_id=second, context=context)
    assert StatementLine.objects.get(pk=second).status == "matched_auto"


# SQLite splits large INSERTs by its limit of bound parameters; PostgreSQL takes
# each table's rows in one statement.
@pytest.mark.parametrize("count", [10, pytest.param(200, marks=pytest.mark.postgres)])
def test_a_batch_costs_the_same_queries_for_ten_invoices_or_two_hundred(
    customer, count, django_assert_num_queries
):
    batch = [
        BatchInvoice(customer=customer, invoice_date=JAN, lines=lines(2))
        for _ in range(count)
    ]
    # duplicates check not needed (no numbers or external ids given); number
    # block, invoices, lines and instalments, ledger writes (debits, open
    # amounts, receivables summary: one upsert for all customers; new invoices
    # have no fees to read), deliveries, audit events, events (created and
    # issued: one INSERT)
    with django_assert_num_queries(
        2 + 3 + LINES_AND_INSTALMENTS + LEDGER_WRITES + AUDIT_AND_EVENTS
    ):
        created = invoice_batch_create(invoices=batch, issue=True, actor=SYSTEM)
    assert created[-1].number == f"INV-{count + 1:06d}"


def test_a_subscribed_endpoint_costs_its_lookup_and_one_insert_of_deliveries(
    customer, django_assert_num_queries
):
    from o2c.models import Event, WebhookDelivery, WebhookEndpoint

    WebhookEndpoint.objects.create(
        organization=customer.organization,
        url="https://erp.example.com/hooks",
        secret="whsec_x",
    )
    invoice = issued_invoice(customer, "119.00", invoice_date=JAN)
    # As above, plus the endpoints and the deliveries of the three events.
    with django_assert_num_queries(2 + 4 + LEDGER_WRITES + AUDIT_AND_EVENTS + 2):
        payment_create(
            customer=customer,
            amount=Decimal("119.00"),
            currency="EUR",
            received_date=JAN,
            allocations=[AllocationInput(invoice, Decimal("119.00"))],
            actor=SYSTEM,
        )
    sent = WebhookDelivery.objects.order_by("pk").values_list("event__type", flat=True)
    assert list(sent)[-3:] == ["payment.received", "payment.applied", "invoice.paid"]
    assert Event.objects.filter(object_id=str(invoice.pk), type="invoice.paid").exists()
