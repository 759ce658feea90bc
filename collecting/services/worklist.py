"""The collectors' queue ("My day"): one row per account, ranked by a score that
explains itself.

An account is a customer in one currency. Its score is the sum of these parts,
each stored in ``WorklistEntry.score_parts`` and shown on the row:

=====================  ==============================================================
``amount_overdue``     10 * log10(1 + overdue amount in the base currency): 1,000 →
                       30, 100,000 → 50 (stored FX rate; 1:1 when none is stored)
``days_overdue``       days since the oldest overdue due date, ÷ 3, at most 60
``broken_promise``     60 for a promise broken (or partly kept) in the last 30 days,
                       + 10 for each other one in the last 180 days, at most 80
``risk``               risk class: low 0, medium 10, high 25
``unanswered_notices`` 5 per notice sent since the customer last answered, at most 25
``follow_up_due``      the next-action date has come: 10, + 1 per day past it (≤ 20)
``call_requested``     15 while a call-task step's call is not logged
``agency_review``      10 while flagged for agency review
``email_bounced``      20 while one of the customer's addresses is suppressed after a
                       hard bounce or spam complaint (someone must find a new one)
``notice_failed``      15 while a dunning notice of the last 30 days failed to go out
                       (the mail server refused it, or gave up after retries)
``portal_dispute``     20 while the customer's dispute opened in the portal in the
                       last 7 days is open (the row is in the queue even when
                       nothing else is actionable)
``portal_promise``     15 while the customer's promise made in the portal in the last
                       7 days is active (likewise)
``late_payment_risk``  up to 20: 20 * the share of the actionable overdue amount
                       predicted *not* to be paid within 30 days past due (the
                       nightly payment prediction; invoices not scored yet count
                       as no risk)
=====================  ==============================================================

A broken promise is worth more than any other single part, so the account goes
back to the top of its collector's queue unless another account is both large
and long overdue.

Only overdue invoices not paused (dispute, promise, payment plan) count as
"actionable". An account needs action when something actionable is overdue, or
when something paused is overdue and its next-action date has come (a promise
date, a call-back), and it is not on hold. The page also hides accounts whose
next-action date lies ahead. The queue is rebuilt daily (after the dunning run)
and refreshed per customer when something happens to it (payment, promise,
dispute, call).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _

from collecting.models import (
    CustomerCollectionProfile,
    Dispute,
    DunningStep,
    Notice,
    PromiseToPay,
    Source,
    WorklistEntry,
)
from collecting.selectors import customers_with_bounced_address, paused_invoices
from invoicing.models import Invoice
from o2c.models import FxRate
from o2c.tenancy import current_organization
from orders.models import Customer

RISK_POINTS = {"low": 0, "medium": 10, "high": 25}
LABELS = {
    "amount_overdue": _("amount overdue"),
    "days_overdue": _("days overdue"),
    "broken_promise": _("broken promise"),
    "risk": _("risk class"),
    "unanswered_notices": _("unanswered notices"),
    "follow_up_due": _("follow-up due"),
    "call_requested": _("call requested"),
    "agency_review": _("agency review"),
    "email_bounced": _("email bounced"),
    "notice_failed": _("notice not delivered"),
    "late_payment_risk": _("risk of paying late"),
    "portal_dispute": _("disputed in the portal"),
    "portal_promise": _("promised in the portal"),
}
PORTAL_DAYS = 7
LATE_RISK_POINTS = 20


def profile_for(customer: Customer) -> CustomerCollectionProfile:
    profile, _ = CustomerCollectionProfile.objects.get_or_create(
        customer=customer, defaults={"organization": current_organization()}
    )
    return profile


@dataclass
class _Account:
    customer_id: int
    currency: str
    actionable: Decimal = Decimal(0)
    paused: Decimal = Decimal(0)
    invoices: int = 0
    oldest_due: date | None = None
    oldest_paused_due: date | None = None
    unlikely_soon: Decimal = Decimal(0)  # actionable amount x P(not paid in 30 d)

    @property
    def late_risk(self) -> float:
        if not self.actionable:
            return 0.0
        return float(self.unlikely_soon / self.actionable)


@dataclass
class _Facts:
    customers: dict[int, tuple] = field(default_factory=dict)
    profiles: dict[int, CustomerCollectionProfile] = field(default_factory=dict)
    broken: dict[int, tuple[int, bool]] = field(default_factory=dict)
    unanswered: dict[int, int] = field(default_factory=dict)
    bounced: set[int] = field(default_factory=set)
    failed_notice: set[int] = field(default_factory=set)
    portal: dict[int, set[str]] = field(default_factory=dict)


def score_parts(
    *,
    amount_base: Decimal,
    days_overdue: int,
    broken_promises: int,
    recent_broken: bool,
    risk_class: str,
    unanswered_notices: int,
    next_action_date: date | None,
    call_requested: bool,
    agency_review: bool,
    today: date,
    email_bounced: bool = False,
    notice_failed: bool = False,
    late_risk: float = 0.0,
    portal_actions: frozenset[str] = frozenset(),
) -> dict[str, float]:
    """The parts of the score (see the module's table); zero parts are left out."""
    parts = {
        "amount_overdue": 10 * math.log10(1 + max(float(amount_base), 0)),
        "days_overdue": min(max(days_overdue, 0), 180) / 3,
        "broken_promise": min(
            (60 + 10 * (broken_promises - 1))
            if recent_broken
            else 10 * broken_promises,
            80,
        ),
        "risk": RISK_POINTS.get(risk_class, 10),
        "unanswered_notices": min(5 * unanswered_notices, 25),
        "follow_up_due": (
            10 + min((today - next_action_date).days, 20)
            if next_action_date is not None and next_action_date <= today
            else 0
        ),
        "call_requested": 15 if call_requested else 0,
        "agency_review": 10 if agency_review else 0,
        "email_bounced": 20 if email_bounced else 0,
        "notice_failed": 15 if notice_failed else 0,
        "late_payment_risk": LATE_RISK_POINTS * min(max(late_risk, 0.0), 1.0),
        "portal_dispute": 20 if "dispute" in portal_actions else 0,
        "portal_promise": 15 if "promise" in portal_actions else 0,
    }
    return {name: round(points, 1) for name, points in parts.items() if points}


def worklist_rebuild(*, today: date | None = None) -> int:
    """Recompute every account of the organization; returns the number of rows."""
    return _rebuild(customer_ids=None, today=today)


def worklist_refresh(*, customer: Customer, today: date | None = None) -> int:
    """Recompute one customer's accounts (after a payment, promise, call…)."""
    return _rebuild(customer_ids=[customer.pk], today=today)


@transaction.atomic
def _rebuild(*, customer_ids: list[int] | None, today: date | None) -> int:
    organization = current_organization()
    today = today or organization.today()
    accounts = _overdue_accounts(customer_ids, today)
    involved = {customer_id for customer_id, _ in accounts}
    facts = _facts(involved, today)
    rates = _rates_to_base(organization, {currency for _, currency in accounts}, today)
    existing = {
        (entry.customer_id, entry.currency): entry
        for entry in _scope(WorklistEntry.objects.all(), customer_ids)
    }
    entries = []
    for key, account in accounts.items():
        entry = existing.pop(key, None) or WorklistEntry(
            organization=organization,
            customer_id=account.customer_id,
            currency=account.currency,
        )
        _fill(entry, account, facts, rates.get(account.currency, Decimal(1)), today)
        entry._state.adding = True  # inserted again below, with its id if it had one
        entries.append(entry)
    # Rows are written anew, each keeping its id (pages link to it): one DELETE
    # and batched INSERTs instead of an UPDATE per row, which at 20,000
    # accounts took most of a minute.
    _scope(WorklistEntry.objects.all(), customer_ids).delete()
    WorklistEntry.objects.bulk_create(entries, batch_size=1000)
    return len(accounts)


def _scope(queryset, customer_ids):
    if customer_ids is None:
        return queryset
    return queryset.filter(customer_id__in=customer_ids)


def _overdue_accounts(customer_ids, today) -> dict[tuple[int, str], _Account]:
    invoices = _scope(
        Invoice.objects.filter(
            status__in=(Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID),
            open_amount__gt=0,
            due_date__lt=today,
        ),
        customer_ids,
    ).values_list(
        "pk",
        "customer_id",
        "currency",
        "due_date",
        "open_amount",
        "prediction__chance_within_30_days",
    )
    rows = list(invoices.order_by())
    paused = paused_invoices(
        invoice_ids=[row[0] for row in rows] if customer_ids is not None else None
    )
    accounts: dict[tuple[int, str], _Account] = {}
    for invoice_id, customer_id, currency, due_date, open_amount, chance in rows:
        account = accounts.get((customer_id, currency))
        if account is None:
            account = accounts[(customer_id, currency)] = _Account(
                customer_id, currency
            )
        account.invoices += 1
        if invoice_id in paused:
            account.paused += open_amount
            if (
                account.oldest_paused_due is None
                or due_date < account.oldest_paused_due
            ):
                account.oldest_paused_due = due_date
        else:
            account.actionable += open_amount
            if chance is not None:
                account.unlikely_soon += open_amount * (1 - chance)
            if account.oldest_due is None or due_date < account.oldest_due:
                account.oldest_due = due_date
    return accounts


def _facts(customer_ids: set[int], today: date) -> _Facts:
    facts = _Facts()
    if not customer_ids:
        return facts
    ids = list(customer_ids)
    facts.customers = {
        row[0]: row[1:]
        for row in Customer.objects.filter(pk__in=ids).values_list(
            "pk", "collector_id", "segment", "risk_class"
        )
    }
    facts.profiles = {
        profile.customer_id: profile
        for profile in CustomerCollectionProfile.objects.filter(customer_id__in=ids)
    }
    broken = (
        PromiseToPay.objects.filter(
            customer_id__in=ids,
            status__in=(PromiseToPay.Status.BROKEN, PromiseToPay.Status.PARTIALLY_KEPT),
            promised_date__gte=today - timedelta(days=180),
        )
        .values("customer_id")
        .annotate(
            total=Count("pk"),
            recent=Count("pk", filter=Q(promised_date__gte=today - timedelta(days=30))),
        )
        .order_by()
    )
    facts.broken = {
        row["customer_id"]: (row["total"], row["recent"] > 0) for row in broken
    }
    facts.unanswered = _unanswered(ids, facts.profiles, today)
    facts.bounced = customers_with_bounced_address(ids)
    facts.failed_notice = set(
        Notice.objects.filter(
            customer_id__in=ids,
            status=Notice.Status.FAILED,
            notice_date__gte=today - timedelta(days=30),
        ).values_list("customer_id", flat=True)
    )
    facts.portal = _portal_actions(ids, today)
    return facts


def _portal_actions(ids, today) -> dict[int, set[str]]:
    """What customers did in the portal lately that a collector should look at:
    an open dispute or an active promise of the last :data:`PORTAL_DAYS` days."""
    since = today - timedelta(days=PORTAL_DAYS)
    found: dict[int, set[str]] = defaultdict(set)
    recent = (
        ("dispute", Dispute.objects.filter(
            status=Dispute.Status.OPEN, opened_on__gte=since
        )),
        ("promise", PromiseToPay.objects.filter(
            status=PromiseToPay.Status.ACTIVE, made_on__gte=since
        )),
    )  # fmt: skip
    for action, rows in recent:
        for customer_id in rows.filter(
            customer_id__in=ids, source=Source.PORTAL
        ).values_list("customer_id", flat=True):
            found[customer_id].add(action)
    return dict(found)


def _unanswered(ids, profiles, today) -> dict[int, int]:
    """Notices sent (email, letter) since the customer last answered us, in the
    last 90 days."""
    rows = Notice.objects.filter(
        customer_id__in=ids,
        status=Notice.Status.SENT,
        channel__in=(DunningStep.Channel.EMAIL, DunningStep.Channel.LETTER),
        notice_date__gte=today - timedelta(days=90),
    ).values_list("customer_id", "sent_at")
    counts: dict[int, int] = defaultdict(int)
    for customer_id, sent_at in rows:
        profile = profiles.get(customer_id)
        last = profile.last_contact_at if profile else None
        if last is None or (sent_at and sent_at > last):
            counts[customer_id] += 1
    return counts


def _rates_to_base(organization, currencies, today) -> dict[str, Decimal]:
    rates = {organization.base_currency: Decimal(1)}
    for currency in currencies - set(rates):
        rate = (
            FxRate.objects.filter(currency=currency, date__lte=today)
            .order_by("-date")
            .values_list("rate", flat=True)
            .first()
        )
        rates[currency] = rate or Decimal(1)
    return rates


def _fill(entry, account: _Account, facts: _Facts, rate, today) -> None:
    collector_id, segment, risk_class = facts.customers.get(
        account.customer_id, (None, "", "medium")
    )
    profile = facts.profiles.get(account.customer_id)
    broken_count, recent_broken = facts.broken.get(account.customer_id, (0, False))
    next_action = profile.next_action_date if profile else None
    oldest = account.oldest_due or account.oldest_paused_due
    days = (today - oldest).days if oldest else 0
    parts = score_parts(
        amount_base=account.actionable * rate,
        days_overdue=(today - account.oldest_due).days if account.oldest_due else 0,
        broken_promises=broken_count,
        recent_broken=recent_broken,
        risk_class=risk_class,
        unanswered_notices=facts.unanswered.get(account.customer_id, 0),
        next_action_date=next_action,
        call_requested=bool(profile and profile.call_requested),
        agency_review=bool(profile and profile.agency_review),
        today=today,
        email_bounced=account.customer_id in facts.bounced,
        notice_failed=account.customer_id in facts.failed_notice,
        late_risk=account.late_risk,
        portal_actions=frozenset(facts.portal.get(account.customer_id, ())),
    )
    on_hold = bool(profile and profile.on_hold)
    entry.collector_id = collector_id
    entry.segment = segment
    entry.risk_class = risk_class
    entry.amount_overdue = account.actionable
    entry.amount_paused = account.paused
    entry.invoices_overdue = account.invoices
    entry.days_overdue = days
    entry.broken_promises = broken_count
    entry.unanswered_notices = facts.unanswered.get(account.customer_id, 0)
    entry.next_action_date = next_action
    entry.needs_action = not on_hold and (
        account.actionable > 0
        or (account.paused > 0 and next_action is not None)
        or bool(facts.portal.get(account.customer_id))
    )
    entry.score = Decimal(str(round(sum(parts.values()), 1)))
    entry.score_parts = parts
    entry.computed_on = today


def explain(entry: WorklistEntry) -> list[tuple[str, float]]:
    """The entry's score parts as (label, points), largest first, for display."""
    return sorted(
        (
            (LABELS.get(name, name), points)
            for name, points in entry.score_parts.items()
        ),
        key=lambda pair: -pair[1],
    )
