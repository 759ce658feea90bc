"""The demo company collects from its first minute: a bilingual standard policy and
a collection history that agrees with the invoices and payments it follows."""

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client

from collecting.models import (
    Activity,
    Dispute,
    DunningPolicy,
    DunningRun,
    Notice,
    NoticeItem,
    PaymentPlan,
    PromiseToPay,
)
from collecting.selectors import (
    QueueFilters,
    customer_timeline,
    open_invoices_of,
    paused_invoices,
    queue,
)
from collecting.services.commitments import paid_towards
from collecting.services.dunning import dunning_run
from collecting.services.policies import step_preview
from invoicing.models import Invoice
from o2c.models import AuditEvent, Membership, Organization, Role
from o2c.tenancy import tenant_context
from orders.models import Customer

TODAY = date(2026, 3, 16)
YESTERDAY = TODAY - timedelta(days=1)
GERMAN_SUBJECTS = ("Hinweis:", "Zahlungserinnerung:", "1. Mahnung:")
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(datetime(2026, 3, 16, 9, 0, tzinfo=UTC), tick=False):
        yield


@pytest.fixture
def demo(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    call_command("seed_demo", "--customers", "30", "--months", "6", stdout=StringIO())
    organization = Organization.objects.get(slug="demo")
    with tenant_context(organization):
        yield organization


def steps_by_offset():
    policy = DunningPolicy.objects.get(is_default=True)
    return {step.offset_days: step for step in policy.steps.all()}


def test_the_standard_policy_speaks_english_and_german(demo):
    steps = steps_by_offset()

    assert sorted(steps) == [-3, 7, 21, 35, 45, 60, 90]
    for step in steps.values():
        german = step.translations["de"]
        assert step.subject and german["subject"] != step.subject
        assert german["body"] and step.body
    letters = [s for s in steps.values() if s.channel in ("email", "letter")]
    for step in letters:
        assert "Sehr geehrte Damen und Herren," in step.translations["de"]["body"]
        assert "Dear" in step.body
    assert steps[7].translations["de"]["subject"].startswith("Zahlungserinnerung")
    assert steps[21].translations["de"]["subject"].startswith("1. Mahnung")
    assert "Mahngebühr" in steps[21].translations["de"]["body"]
    assert steps[35].translations["de"]["subject"].startswith("Letzte Mahnung")


def test_a_german_customer_reads_german_and_an_english_one_english(demo):
    second_reminder = steps_by_offset()[21]
    german = Customer.objects.filter(
        language="de", invoices__status=Invoice.Status.OPEN
    ).first()
    english = Customer.objects.filter(
        language="en", invoices__status=Invoice.Status.OPEN
    ).first()

    in_german = step_preview(step=second_reminder, customer=german, as_of=TODAY)
    in_english = step_preview(step=second_reminder, customer=english, as_of=TODAY)

    assert in_german.subject.startswith("1. Mahnung: ")
    assert in_german.body.startswith("Sehr geehrte Damen und Herren,")
    assert "Mahngebühr von 5,00 EUR" in in_german.body
    assert "Mit freundlichen Grüßen\nNorthwind Supplies GmbH" in in_german.body
    # The notice lists the overdue invoices the dunning chases, not paused ones.
    invoices = list(open_invoices_of(german))
    paused = paused_invoices(invoice_ids=[invoice.pk for invoice in invoices])
    for invoice in invoices:
        listed = f"- Rechnung {invoice.number} vom " in in_german.body
        if invoice.pk in paused:
            assert not listed
        elif invoice.due_date < TODAY and invoice.currency == invoices[0].currency:
            assert listed
    assert "Dear" not in in_german.body and "<" not in in_german.body
    assert in_english.subject.startswith("Second reminder: ")
    assert "A reminder fee of 5.00 " in in_english.body


def test_todays_run_mails_notices_in_each_customers_language(
    demo, smtp_sink, django_capture_on_commit_callbacks
):
    assert DunningRun.objects.filter(run_date=YESTERDAY).exists()
    assert not DunningRun.objects.filter(run_date=TODAY).exists()

    with django_capture_on_commit_callbacks(execute=True):
        run = dunning_run()

    assert run.run_date == TODAY and run.notices_created > 0
    emails = Notice.objects.filter(run=run, channel="email")
    assert emails.count() == len(smtp_sink.messages) > 0
    languages = {}
    for received in smtp_sink.messages:
        notice = Notice.objects.get(pk=int(received.message["X-O2C-Notice"]))
        language = notice.customer.language
        languages[language] = languages.get(language, 0) + 1
        if language == "de":
            assert received.subject.startswith(GERMAN_SUBJECTS), received.subject
            assert received.text.startswith("Sehr geehrte Damen und Herren,")
        else:
            assert received.text.startswith("Dear ")
        assert "<" not in received.text and "&lt;" not in received.text
    assert languages.get("de")


def test_notices_chase_only_open_invoices_each_step_once(demo):
    steps = steps_by_offset()
    items = NoticeItem.objects.select_related("notice", "invoice")
    assert items.count() > 100
    assert Notice.objects.exclude(status=Notice.Status.SENT).count() == 0
    seen = set()
    for item in items:
        notice, invoice = item.notice, item.invoice
        day = notice.notice_date
        assert (item.invoice_id, item.step_id) not in seen
        seen.add((item.invoice_id, item.step_id))
        assert invoice.invoice_date <= day <= YESTERDAY
        assert day >= invoice.due_date + timedelta(days=item.offset_days)
        assert item.days_overdue == (day - invoice.due_date).days
        # Never on or after the day the invoice was settled.
        assert invoice.settled_date is None or day < invoice.settled_date
        assert item.open_amount > 0
        assert notice.step.offset_days >= item.offset_days
        assert steps[item.offset_days] == item.step
    # A step is never issued after a higher one for the same invoice.
    by_invoice = defaultdict(list)
    for invoice_id, day, offset in items.values_list(
        "invoice_id", "notice__notice_date", "offset_days"
    ):
        by_invoice[invoice_id].append((day, offset))
    for issued in by_invoice.values():
        offsets = [offset for _, offset in sorted(issued)]
        assert offsets == sorted(set(offsets))


def test_do_not_contact_customers_hear_nothing_after_they_asked(demo):
    customers = Customer.objects.filter(do_not_contact=True)
    assert customers.count() >= 2
    for customer in customers:
        since = AuditEvent.objects.filter(
            object_type="orders.customer",
            object_id=str(customer.pk),
            data__do_not_contact=True,
        ).first()
        last_day = since.created_at.date() if since else date.min
        assert not Notice.objects.filter(
            customer=customer, notice_date__gte=last_day
        ).exists()


def test_promises_are_judged_by_the_payments_that_came(demo):
    promises = PromiseToPay.objects.all()
    assert {"kept", "partially_kept", "broken", "active"} <= set(
        promises.values_list("status", flat=True)
    )
    for promise in promises:
        invoice_ids = list(promise.invoices.values_list("pk", flat=True))
        deadline = promise.promised_date + timedelta(days=promise.grace_days)
        if promise.status == PromiseToPay.Status.ACTIVE:
            paid = paid_towards(invoice_ids, since=promise.made_on, until=YESTERDAY)
            assert paid < promise.amount and deadline >= YESTERDAY
            continue
        judged = promise.evaluated_at.date()
        paid = paid_towards(invoice_ids, since=promise.made_on, until=judged)
        assert promise.paid_amount == paid
        settled = not Invoice.objects.filter(
            pk__in=invoice_ids, settled_date=None
        ).exists() and all(
            day <= judged
            for day in Invoice.objects.filter(pk__in=invoice_ids).values_list(
                "settled_date", flat=True
            )
        )
        if promise.status == PromiseToPay.Status.KEPT:
            assert paid >= promise.amount or settled
            assert judged <= deadline + timedelta(days=1)
        else:
            assert judged == deadline + timedelta(days=1)
            assert paid < promise.amount and not settled
            assert (paid > 0) == (promise.status == "partially_kept")
        transition = AuditEvent.objects.get(
            object_type="collecting.promisetopay",
            object_id=str(promise.pk),
            to_status=promise.status,
        )
        assert transition.from_status == "active"


def test_promises_that_ran_out_yesterday_are_judged_by_todays_run(
    demo, django_capture_on_commit_callbacks
):
    ran_out = PromiseToPay.objects.filter(
        status=PromiseToPay.Status.ACTIVE,
        promised_date=TODAY - timedelta(days=4),
        grace_days=3,
    )
    assert ran_out.exists()
    promise_ids = list(ran_out.values_list("pk", flat=True))

    with django_capture_on_commit_callbacks(execute=True):
        run = dunning_run()

    judged = PromiseToPay.objects.filter(pk__in=promise_ids)
    assert not judged.filter(status=PromiseToPay.Status.ACTIVE).exists()
    broken = judged.filter(status=PromiseToPay.Status.BROKEN)
    assert broken.exists()
    chased = set(
        NoticeItem.objects.filter(notice__run=run).values_list("invoice_id", flat=True)
    )
    # Their invoices' dunning resumes: a step reached while they were promised
    # goes out today.
    assert any(
        set(promise.invoices.values_list("pk", flat=True)) & chased
        for promise in broken
    )


def test_disputes_plan_and_calls_are_what_the_ledger_says(demo):
    by_credit_note = Dispute.objects.filter(status="resolved_credit_note")
    assert by_credit_note.exists()
    for dispute in by_credit_note:
        assert dispute.credit_note.invoice in dispute.invoices.all()
        assert dispute.opened_on <= dispute.credit_note.credit_date
    assert Dispute.objects.filter(status="resolved_company_favour").exists()
    # Two from the collectors' history; the demo's portal adds one of its own.
    assert Dispute.objects.filter(status="open", source="collector").count() == 2
    assert Dispute.objects.filter(status="open", source="portal").count() == 1
    for dispute in Dispute.objects.filter(status="open"):
        assert all(i.status != "paid" for i in dispute.invoices.all())

    plan = PaymentPlan.objects.get()
    instalments = list(plan.instalments.order_by("sequence"))
    paid = paid_towards(
        plan.invoices.values_list("pk", flat=True), since=plan.start_date, until=TODAY
    )
    assert [i.status for i in instalments].count("paid") >= 1
    assert instalments[-1].status == "pending" and instalments[-1].due_date > TODAY
    assert sum(i.amount for i in instalments) == plan.total_amount
    assert paid == sum(
        (i.amount for i in instalments if i.status == "paid"), Decimal(0)
    )

    calls = Activity.objects.filter(kind="call")
    assert calls.filter(outcome="promised").exists()
    assert calls.filter(outcome__in=("no_answer", "left_voicemail")).exists()
    collectors = Membership.objects.filter(role=Role.COLLECTOR).values_list(
        "user_id", flat=True
    )
    assert set(calls.values_list("user_id", flat=True)) <= set(collectors)


def test_the_ledger_stays_consistent(demo):
    out = StringIO()
    call_command("verify_ledger", "--org", "demo", stdout=out)
    assert "demo: ledger consistent" in out.getvalue()


def test_my_day_and_the_timeline_are_full_on_the_first_start(demo):
    collector = (
        Membership.objects.filter(role=Role.COLLECTOR).order_by("user_id").first()
    )
    rows = list(queue(filters=QueueFilters(collector_id=collector.user_id)))
    assert rows
    client = Client()
    client.force_login(collector.user)
    page = client.get("/collections/my-day/")
    assert page.status_code == 200
    assert rows[0].customer.name in page.content.decode()

    promised = PromiseToPay.objects.exclude(status="active").first()
    kinds = {e.kind for e in customer_timeline(customer=promised.customer)}
    assert {"notice", "activity", "promise", "status", "payment"} <= kinds


def test_yesterdays_bank_statement_is_imported_and_matched(demo):
    from reconciliation.models import BankAccount, StatementLine

    account = BankAccount.objects.get(is_default=True)
    assert account.iban == "DE89370400440532013000"
    lines = StatementLine.objects.filter(bank_account=account)
    assert {line.booking_date for line in lines} == {date(2026, 3, 15)}
    statuses = defaultdict(int)
    for line in lines:
        statuses[line.status] += 1
    # Transfers quoting a reference are applied; the stranger without one and
    # the bank's own fee are not.
    assert statuses["matched_auto"] >= 5
    assert statuses["needs_review"] >= 1
    assert statuses["debit"] == 1
    assert not lines.filter(status="new").exists()
    for line in lines.filter(status="matched_auto"):
        assert line.match_reason
    out = StringIO()
    call_command("verify_ledger", "--org", "demo", stdout=out)
    assert "consistent" in out.getvalue().lower()
