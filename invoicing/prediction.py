"""Reading an invoice's stored payment prediction, and its reasons in words.

The scores are written nightly by ``collecting.prediction``; this module only
reads them, so the invoice API and pages (and, above, collecting and reports)
show them without importing the predictor. Reasons are stored as codes with a
value and a contribution in days and put in words here, in the reader's
language.
"""

from __future__ import annotations

import math

from django.db.models import F
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from invoicing.models import Invoice, InvoicePrediction


def _days(value) -> int:
    return round(abs(value or 0))


def _percent(value) -> str:
    return number_format(round((value or 0) * 100))


def reason_text(reason: dict) -> str:
    """One reason (``{"code", "value", "days"}``) in words."""
    code, value = reason.get("code"), reason.get("value")
    text = _TEXTS.get(code)
    if text is None:
        return code or ""
    return text(value)


def _late_or_early(late: str, early: str, on_time: str):
    def text(value):
        days = _days(value)
        if days == 0:
            return on_time
        template = late if (value or 0) > 0 else early
        return template % {"days": days}

    return text


def _month(value) -> str:
    from django.utils.dates import MONTHS

    return MONTHS.get(int(value or 0), "")


def _weekday(value) -> str:
    from django.utils.dates import WEEKDAYS

    return WEEKDAYS.get(int(value or 0), "")


_TEXTS = {
    "median_days_late": _late_or_early(
        gettext_lazy("Pays %(days)s days late (median)"),
        gettext_lazy("Pays %(days)s days early (median)"),
        gettext_lazy("Pays on the due date (median)"),
    ),
    "mean_days_late": _late_or_early(
        gettext_lazy("Pays %(days)s days late on average"),
        gettext_lazy("Pays %(days)s days early on average"),
        gettext_lazy("Pays on the due date on average"),
    ),
    "last_days_late": _late_or_early(
        gettext_lazy("Last invoice paid %(days)s days late"),
        gettext_lazy("Last invoice paid %(days)s days early"),
        gettext_lazy("Last invoice paid on the due date"),
    ),
    "trend_days_late": _late_or_early(
        gettext_lazy("Recent payments %(days)s days later than usual"),
        gettext_lazy("Recent payments %(days)s days earlier than usual"),
        gettext_lazy("Recent payments as usual"),
    ),
    "days_past_due": _late_or_early(
        gettext_lazy("Already %(days)s days past due"),
        gettext_lazy("Due in %(days)s days"),
        gettext_lazy("Due today"),
    ),
    "organization_median": lambda value: _(
        "No payment history of this customer: the organization's usual lateness"
    ),
    "amount_to_usual": lambda value: (
        _("Amount %(times)s times its usual") % {"times": number_format(value, 1)}
        if value is not None
        else _("First invoice of this customer")
    ),
    "log_amount": lambda value: _("Invoice amount"),
    "terms_days": lambda value: _("Terms of %(days)s days") % {"days": _days(value)},
    "currency": lambda value: _("Invoice currency"),
    "issue_month": lambda value: _("Issued in %(month)s") % {"month": _month(value)},
    "due_month": lambda value: _("Due in %(month)s") % {"month": _month(value)},
    "issue_weekday": lambda value: (
        _("Issued on a %(weekday)s") % {"weekday": _weekday(value)}
    ),
    "due_weekday": lambda value: (
        _("Due on a %(weekday)s") % {"weekday": _weekday(value)}
    ),
    "settled_count": lambda value: (
        ngettext(
            "%(count)s invoice paid before",
            "%(count)s invoices paid before",
            int(value or 0),
        )
        % {"count": int(value or 0)}
    ),
    "share_late": lambda value: (
        _("%(percent)s %% of invoices paid late") % {"percent": _percent(value)}
    ),
    "share_disputed": lambda value: (
        _("%(percent)s %% of invoices disputed") % {"percent": _percent(value)}
    ),
    "log_open_balance": lambda value: (
        _("Open balance of %(amount)s")
        % {"amount": number_format(round(math.expm1(value or 0)))}
    ),
    "log_overdue_balance": lambda value: (
        _("Overdue balance of %(amount)s")
        % {"amount": number_format(round(math.expm1(value or 0)))}
    ),
    "overdue_share": lambda value: (
        _("%(percent)s %% of the open balance overdue") % {"percent": _percent(value)}
    ),
    "disputed_now": lambda value: _("Disputed") if value else _("Not disputed"),
    "disputes_so_far": lambda value: (
        _("Disputed before") if value else _("Never disputed")
    ),
    "promise_active": lambda value: (
        _("Promise to pay") if value else _("No promise to pay")
    ),
    "broken_promises": lambda value: (
        ngettext(
            "%(count)s broken promise", "%(count)s broken promises", int(value or 0)
        )
        % {"count": int(value or 0)}
    ),
    "dunning_steps_sent": lambda value: (
        ngettext("%(count)s reminder sent", "%(count)s reminders sent", int(value or 0))
        % {"count": int(value or 0)}
    ),
}


def reasons_in_words(prediction: InvoicePrediction) -> list[dict]:
    """Each reason with its words and its effect in whole days (+ later)."""
    return [
        {
            "code": reason.get("code"),
            "text": reason_text(reason),
            "days": round(reason.get("days") or 0),
        }
        for reason in prediction.reasons
    ]


def prediction_for(invoice) -> InvoicePrediction | None:
    return InvoicePrediction.objects.filter(invoice=invoice).first()


def prediction_shown(invoice) -> dict | None:
    """What the invoice page shows of an open invoice's prediction."""
    if invoice.status not in (Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID):
        return None
    prediction = prediction_for(invoice)
    if prediction is None:
        return None
    return {
        "prediction": prediction,
        "within_terms_percent": round(prediction.chance_within_terms * 100),
        "within_30_days_percent": round(prediction.chance_within_30_days * 100),
        "reasons": reasons_in_words(prediction),
    }


def customer_outlook(*, customer) -> dict | None:
    """What the customer page says of the open invoices' predictions: how many
    are expected late, by how many days on average, and the reason that pushes
    them later most (summed over the invoices). One query; ``None`` when no
    open invoice is scored."""
    predictions = list(
        InvoicePrediction.objects.filter(
            invoice__customer=customer,
            invoice__status__in=(Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID),
        )
        .annotate(open_amount=F("invoice__open_amount"))
        .only("expected_days_late", "reasons")
    )
    if not predictions:
        return None
    days_late = [prediction.expected_days_late for prediction in predictions]
    return {
        "scored": len(predictions),
        "expected_late": sum(1 for days in days_late if days > 0),
        "mean_days_late": _weighted_days_late(predictions),
        "top_reason": _top_reason(predictions),
    }


def _weighted_days_late(predictions) -> int:
    """Expected days late, averaged weighted by open amount: a small remainder
    long overdue does not make the account look months late. (The amounts are
    weights only; a customer's open invoices are in one currency but for rare
    exceptions.)"""
    weights = [max(p.open_amount or 0, 0) for p in predictions]
    total = sum(weights)
    if not total:
        days = [p.expected_days_late for p in predictions]
        return round(sum(days) / len(days))
    weighted = sum(
        weight * p.expected_days_late
        for weight, p in zip(weights, predictions, strict=True)
    )
    return round(weighted / total)


def _top_reason(predictions) -> str | None:
    totals: dict[str, float] = {}
    strongest: dict[str, dict] = {}
    for prediction in predictions:
        for reason in prediction.reasons:
            code, days = reason.get("code"), reason.get("days") or 0
            totals[code] = totals.get(code, 0) + days
            if code not in strongest or days > (strongest[code].get("days") or 0):
                strongest[code] = reason
    if not totals:
        return None
    code = max(totals, key=lambda key: (totals[key], key))
    if totals[code] <= 0:
        code = max(totals, key=lambda key: (abs(totals[key]), key))
    return reason_text(strongest[code])
