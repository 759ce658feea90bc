"""Chart.js specifications of the report pages.

Axis labels write dates and months in the organization's date format, as the
tables do. A page puts a spec in the template with ``json_script`` next to a
``<canvas data-chart="…">``; ``static/reports/charts.js`` draws it. ``links`` (one
per label) make a bar or point open the list behind it. Chart values are floats
for drawing only: the figures printed next to the charts are the exact ones.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from o2c.dates import format_org_date, format_org_month
from reports.selectors.aging import AgingReport
from reports.selectors.forecast import CashForecast
from reports.selectors.history import MonthActivity, QuarterBehaviour
from reports.selectors.metrics import MetricSeries

BLUE, RED, GREEN, GREY, AMBER = "#1f5fbf", "#c0392b", "#2e8b57", "#8a94a6", "#d4a017"
BUCKET_COLOURS = [GREEN, "#f1c40f", "#e67e22", "#d35400", RED, "#922b21", "#641e16"]


def _number(value) -> float | None:
    return None if value is None else float(value)


def aging_chart(report: AgingReport, links: list[str]) -> dict:
    """Bars per bucket of the first total (the base-currency total, or the first
    currency's)."""
    total = report.totals[0] if report.totals else None
    return {
        "type": "bar",
        "labels": [bucket.label for bucket in report.buckets],
        "datasets": [
            {
                "label": _("Open (%(currency)s)") % {"currency": total.currency}
                if total
                else _("Open"),
                "data": [_number(amount) for amount in total.buckets] if total else [],
                "backgroundColor": [
                    BUCKET_COLOURS[min(i, len(BUCKET_COLOURS) - 1)]
                    for i in range(len(report.buckets))
                ],
            }
        ],
        "links": links,
        "legend": False,
    }


def dso_chart(series: MetricSeries, links: list[str]) -> dict:
    return {
        "type": "line",
        "labels": [format_org_month(m.month) for m in series.months],
        "datasets": [
            _line(_("DSO (countback)"), [m.dso_countback for m in series.months], BLUE),
            _line(_("DSO (simple)"), [m.dso_simple for m in series.months], GREY),
            _line(
                _("Best Possible DSO"),
                [m.best_possible_dso for m in series.months],
                GREEN,
            ),
        ],
        "links": links,
        "yTitle": _("days"),
    }


def cei_chart(series: MetricSeries, links: list[str]) -> dict:
    return {
        "type": "line",
        "labels": [format_org_month(m.month) for m in series.months],
        "datasets": [
            _line("CEI %", [m.cei for m in series.months], BLUE),
            # xgettext:no-python-format
            _line(_("% current"), [m.percent_current for m in series.months], GREEN),
        ],
        "links": links,
        "yTitle": "%",
    }


def receivables_chart(series: MetricSeries, links: list[str]) -> dict:
    return {
        "type": "bar",
        "labels": [format_org_month(m.month) for m in series.months],
        "datasets": [
            {
                "label": _("Current (%(currency)s)") % {"currency": series.currency},
                "data": [_number(m.current_receivables) for m in series.months],
                "backgroundColor": GREEN,
                "stack": "ar",
            },
            {
                "label": _("Overdue (%(currency)s)") % {"currency": series.currency},
                "data": [_number(m.overdue) for m in series.months],
                "backgroundColor": RED,
                "stack": "ar",
            },
            {
                "label": _("Credit sales (%(currency)s)")
                % {"currency": series.currency},
                "data": [_number(m.credit_sales) for m in series.months],
                "backgroundColor": GREY,
                "stack": "sales",
            },
        ],
        "links": links,
        "stacked": True,
    }


def forecast_chart(forecast: CashForecast, links: list[str]) -> dict:
    labels = [_("Past expected date")] + [
        format_org_date(week.start) for week in forecast.weeks
    ]
    return {
        "type": "bar",
        "labels": labels,
        "datasets": [
            {
                "label": _("Expected (%(currency)s)") % {"currency": forecast.currency},
                "data": [_number(forecast.past_expected)]
                + [_number(week.amount) for week in forecast.weeks],
                "backgroundColor": [AMBER] + [BLUE] * len(forecast.weeks),
            }
        ],
        "links": links,
        "legend": False,
    }


def activity_chart(activity: list[MonthActivity], currency: str, link: str) -> dict:
    months = [a for a in activity if a.currency == currency]
    return {
        "type": "bar",
        "labels": [format_org_month(a.month) for a in months],
        "datasets": [
            {
                "label": _("Invoiced (%(currency)s)") % {"currency": currency},
                "data": [_number(a.invoiced) for a in months],
                "backgroundColor": BLUE,
            },
            {
                "label": _("Paid (%(currency)s)") % {"currency": currency},
                "data": [_number(a.paid) for a in months],
                "backgroundColor": GREEN,
            },
        ],
        "links": [link] * len(months),
    }


def behaviour_chart(quarters: list[QuarterBehaviour], link: str) -> dict:
    """Average days to pay and beyond terms per quarter (a link for every point:
    the customer's invoices)."""
    return {
        "type": "line",
        "labels": [
            f"{q.quarter.year} Q{(q.quarter.month - 1) // 3 + 1}" for q in quarters
        ],
        "datasets": [
            _line(
                _("Average days to pay"),
                [q.behaviour.average_days_to_pay for q in quarters],
                BLUE,
            ),
            _line(
                _("Average days beyond terms"),
                [q.behaviour.average_days_late for q in quarters],
                RED,
            ),
        ],
        "links": [link] * len(quarters),
        "yTitle": _("days"),
    }


def _line(label: str, values, colour: str) -> dict:
    return {
        "label": label,
        "data": [_number(v) for v in values],
        "borderColor": colour,
        "backgroundColor": colour,
        "spanGaps": True,
        "tension": 0.2,
    }
