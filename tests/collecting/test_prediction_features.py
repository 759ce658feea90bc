"""Features as of a date: the right figures, and nothing from after the date."""

from datetime import UTC, date, datetime

import numpy as np
import pytest
import time_machine

from collecting.models import DunningStep, Notice, NoticeItem
from collecting.prediction.features import FEATURES, features_as_of, load_history
from collecting.services.commitments import (
    dispute_open,
    dispute_resolve,
    promise_create,
)
from collecting.services.policies import policy_create
from tests.factories import SYSTEM, CustomerFactory, issued_invoice, received_payment

AS_OF = date(2026, 4, 10)


def at(day: date):
    return time_machine.travel(
        datetime(day.year, day.month, day.day, 12, tzinfo=UTC), tick=False
    )


def paid(customer, invoice, day):
    received_payment(
        customer,
        invoice.total,
        received_date=day,
        allocations=[(invoice, invoice.total)],
    )


def column(matrix, row, name):
    return matrix[row, FEATURES.index(name)]


@pytest.fixture
def book(tenant):
    """One customer (net 30): two invoices paid 5 and 7 days late before the
    as-of date, one disputed open invoice, one open invoice, one large one."""
    customer = CustomerFactory()
    first = issued_invoice(customer, "100.00", invoice_date=date(2026, 1, 1))
    paid(customer, first, date(2026, 2, 5))  # due 31 Jan: 5 days late
    second = issued_invoice(customer, "300.00", invoice_date=date(2026, 2, 1))
    paid(customer, second, date(2026, 3, 10))  # due 3 Mar: 7 days late
    disputed = issued_invoice(customer, "200.00", invoice_date=date(2026, 3, 1))
    with at(date(2026, 3, 20)):
        dispute = dispute_open(
            customer=customer, invoices=[disputed], reason_code="pricing", actor=SYSTEM
        )
    still_open = issued_invoice(customer, "800.00", invoice_date=date(2026, 3, 5))
    return {
        "customer": customer,
        "invoices": [first, second, disputed, still_open],
        "dispute": dispute,
    }


def features_of(invoices):
    history = load_history()
    rows = [history.position[invoice.pk] for invoice in invoices]
    return features_as_of(history, rows, AS_OF.toordinal())


def test_features_as_of_a_date_are_what_was_known_then(book):
    _, _, disputed, still_open = book["invoices"]
    matrix = features_of([disputed, still_open])

    assert column(matrix, 0, "settled_count") == 2
    assert column(matrix, 0, "mean_days_late") == 6  # (5 + 7) / 2
    assert column(matrix, 0, "median_days_late") == 6
    assert column(matrix, 0, "last_days_late") == 7
    assert column(matrix, 0, "share_late") == 1
    assert column(matrix, 0, "disputed_now") == 1
    assert column(matrix, 1, "disputed_now") == 0
    assert column(matrix, 0, "terms_days") == 30
    assert column(matrix, 0, "days_past_due") == (AS_OF - disputed.due_date).days
    # 800 against the median of the earlier invoices' totals (100, 300, 200).
    assert column(matrix, 1, "amount_to_usual") == pytest.approx(800 / 200)
    # Open at the start of 10 April: 200 + 800, all overdue (due 31 Mar, 4 Apr).
    assert np.expm1(column(matrix, 1, "log_open_balance")) == pytest.approx(1000)
    assert np.expm1(column(matrix, 1, "log_overdue_balance")) == pytest.approx(1000)


def test_no_feature_looks_past_its_date(book):
    customer = book["customer"]
    first, second, disputed, still_open = book["invoices"]
    watched = [first, second, disputed, still_open]
    before = features_of(watched)

    # The future, from the as-of day itself on: settlements, a dispute ending and
    # another opening, a promise, a broken promise, a dunning notice, a new invoice.
    with at(date(2026, 4, 12)):
        dispute_resolve(dispute=book["dispute"], resolution="withdrawn", actor=SYSTEM)
        dispute_open(
            customer=customer,
            invoices=[still_open],
            reason_code="quality",
            actor=SYSTEM,
        )
    paid(customer, still_open, AS_OF)  # posted on the day itself: not yet known
    paid(customer, disputed, date(2026, 4, 20))
    later = issued_invoice(customer, "5000.00", invoice_date=date(2026, 4, 11))
    with at(date(2026, 4, 12)):
        promise_create(
            customer=customer,
            invoices=[later],
            amount=later.total,
            promised_date=date(2026, 4, 30),
            actor=SYSTEM,
        )
    _send_notice(customer, later, date(2026, 5, 20))
    _send_notice(customer, still_open, AS_OF)

    after = features_of(watched)
    changed = [
        (invoice.number, FEATURES[col])
        for row, invoice in enumerate(watched)
        for col in range(len(FEATURES))
        if not np.array_equal(before[row, col], after[row, col], equal_nan=True)
    ]
    assert changed == []
    # The future was really there: as of a later day the features do move.
    history = load_history()
    moved = features_as_of(
        history, [history.position[still_open.pk]], date(2026, 6, 1).toordinal()
    )
    assert column(moved, 0, "settled_count") == 4
    assert column(moved, 0, "dunning_steps_sent") == 1


def _send_notice(customer, invoice, day):
    """A dunning notice of the policy's first step, recorded as sent on ``day``."""
    policy = policy_create(
        name=f"Policy {invoice.pk}",
        steps=[
            {
                "name": "Reminder",
                "offset_days": 7,
                "channel": "email",
                "subject": "Reminder",
                "body": "Please pay.",
            }
        ],
        actor=SYSTEM,
    )
    step = DunningStep.objects.get(policy=policy)
    notice = Notice.objects.create(
        organization=customer.organization,
        customer=customer,
        step=step,
        channel=step.channel,
        currency=invoice.currency,
        notice_date=day,
        status=Notice.Status.SENT,
    )
    NoticeItem.objects.create(
        organization=customer.organization,
        notice=notice,
        invoice=invoice,
        step=step,
        days_overdue=(day - invoice.due_date).days,
        open_amount=invoice.open_amount,
    )
