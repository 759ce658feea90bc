"""REST API of the reports: aging (as of any date, any buckets, any grouping), the
invoices behind an aging figure, and the monthly metrics with their definitions."""

from datetime import date

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from o2c.api.base import TenantAPIView
from o2c.api.fields import PlainDecimalField
from o2c.api.serializers import QuerySerializer, Serializer
from o2c.errors import DomainError, ForeignObject
from o2c.models import Membership
from o2c.replica import report_reads
from orders.models import Customer
from reports.exports import NO_COLLECTOR, NO_SEGMENT
from reports.models import MonthEndFigure
from reports.selectors.aging import (
    GROUPINGS,
    SORTS,
    AgingFilters,
    aging_invoices,
    aging_report,
    default_boundaries,
    make_buckets,
    parse_boundaries,
)
from reports.selectors.common import exact
from reports.selectors.forecast import RISKS, cash_forecast, in_base_currency
from reports.selectors.metrics import DEFINITIONS
from reports.selectors.prediction import forecast_accuracy, prediction_accuracy
from reports.selectors.snapshot import metrics_report

MAX_PAGE_SIZE = 500


def collector_id(organization, value: str, *, field: str = "collector") -> int:
    """A member's user id; another organization's (or no one's) answers 404."""
    if (
        not str(value).isdigit()
        or not Membership.objects.filter(
            organization=organization, user_id=int(value)
        ).exists()
    ):
        raise ForeignObject("not_found", f"No collector with id {value}.", field=field)
    return int(value)


# --- input ------------------------------------------------------------------------


class AgingInput(QuerySerializer):
    as_of = serializers.DateField(
        required=False, help_text="Age as of the end of this day (default today)."
    )
    buckets = serializers.CharField(
        required=False,
        help_text="Bucket limits in days past due, e.g. 30,60,90 (Current, 1-30, "
        "31-60, 61-90, 90+). Default: the organization's default bucket set.",
    )
    group_by = serializers.ChoiceField(
        choices=list(GROUPINGS), default="customer", required=False
    )
    currency = serializers.CharField(required=False, max_length=3)
    customer = serializers.IntegerField(required=False, min_value=1)
    collector = serializers.CharField(
        required=False, help_text=f'A collector\'s user id, or "{NO_COLLECTOR}".'
    )
    segment = serializers.CharField(
        required=False, help_text=f'A segment, or "{NO_SEGMENT}" for none.'
    )
    in_base = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Convert to the base currency at the latest stored rate on or "
        "before the as-of date (per currency and bucket).",
    )

    def filters(self) -> AgingFilters:
        data = self.validated_data
        customer = data.get("customer")
        if customer is not None and not Customer.objects.filter(pk=customer).exists():
            raise ForeignObject(
                "not_found", f"No customer with id {customer}.", field="customer"
            )
        collector = data.get("collector")
        collector_id = None
        if collector and collector != NO_COLLECTOR:
            if (
                not collector.isdigit()
                or not Membership.objects.filter(
                    organization=self.context["organization"], user_id=int(collector)
                ).exists()
            ):
                raise ForeignObject(
                    "not_found", f"No collector with id {collector}.", field="collector"
                )
            collector_id = int(collector)
        segment = data.get("segment")
        return AgingFilters(
            customer_id=customer,
            collector_id=collector_id,
            unassigned_only=collector == NO_COLLECTOR,
            segment="" if segment == NO_SEGMENT else segment or None,
            currency=(data.get("currency") or "").upper(),
        )

    def boundaries(self) -> list[int]:
        value = self.validated_data.get("buckets")
        return parse_boundaries(value) if value else default_boundaries()


class AgingReportInput(AgingInput):
    sort = serializers.ChoiceField(choices=list(SORTS), default="total", required=False)
    page = serializers.IntegerField(required=False, min_value=1, default=1)
    page_size = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_PAGE_SIZE, default=50
    )


class AgingInvoicesInput(AgingInput):
    bucket = serializers.IntegerField(
        required=False, min_value=0, help_text="Bucket index, 0 = Current."
    )
    page = serializers.IntegerField(required=False, min_value=1, default=1)
    page_size = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_PAGE_SIZE, default=50
    )


class MetricsInput(QuerySerializer):
    end_month = serializers.RegexField(
        # Years 1900 to 9998, months 01 to 12: a series of up to 60 months
        # before (or the month after) an end outside them leaves the calendar.
        r"^(?:19[0-9]{2}|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
        r"-(?:0[1-9]|1[0-2])$",
        required=False,
        help_text="Last month of the series, YYYY-MM (default the last closed one).",
    )
    months = serializers.IntegerField(
        required=False, min_value=1, max_value=60, default=24
    )
    scope = serializers.ChoiceField(
        choices=MonthEndFigure.Scope.values, default="organization", required=False
    )
    key = serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        help_text="A collector's user id or a segment (scope collector/segment); "
        '"none" for customers without one; default the first.',
    )
    in_base = serializers.BooleanField(required=False, default=True)
    allow_stale = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Accept the stored month-end snapshot even when postings dated "
        "in its months arrived since (fast); default: the ledger's figures.",
    )

    def end_month_date(self) -> date | None:
        value = self.validated_data.get("end_month")
        if not value:
            return None
        year, month = (int(part) for part in value.split("-"))
        if not 1 <= month <= 12:
            raise DomainError("invalid_date", "Month is 01 to 12.", field="end_month")
        return date(year, month, 1)


class ForecastInput(QuerySerializer):
    currency = serializers.RegexField(
        r"^[A-Za-z]{3}$",
        required=False,
        help_text="Only invoices in this currency (ISO code).",
    )
    weeks = serializers.IntegerField(
        required=False, min_value=1, max_value=26, default=13
    )


# --- output -----------------------------------------------------------------------


class BucketOutput(Serializer):
    index = serializers.IntegerField()
    label = serializers.CharField()
    min_days = serializers.IntegerField(
        allow_null=True, help_text="Days past due from (null: not yet due)."
    )
    max_days = serializers.IntegerField(allow_null=True, help_text="null: no limit.")


class AgingLineOutput(Serializer):
    key = serializers.CharField(
        allow_null=True,
        help_text="Customer id, collector user id, segment or currency.",
    )
    label = serializers.CharField()
    number = serializers.CharField(help_text="Customer number (customer rows).")
    currency = serializers.CharField()
    buckets = serializers.ListField(child=serializers.CharField())
    total = serializers.CharField(help_text="Open invoice amounts (sum of buckets).")
    overdue = serializers.CharField()
    unapplied_cash = serializers.CharField(
        help_text="Cash on account, not in any bucket."
    )
    net_balance = serializers.CharField(help_text="Total less unapplied cash.")

    def to_representation(self, line):
        return {
            "key": None if line.key is None else str(line.key),
            "label": line.label,
            "number": line.number,
            "currency": line.currency,
            "buckets": [str(amount) for amount in line.buckets],
            "total": str(line.total),
            "overdue": str(line.overdue),
            "unapplied_cash": str(line.unapplied),
            "net_balance": str(line.net),
        }


class FxOutput(Serializer):
    currency = serializers.CharField()
    rate = PlainDecimalField(max_digits=20, decimal_places=10)
    rate_date = serializers.DateField()


class AgingOutput(Serializer):
    as_of = serializers.DateField()
    is_today = serializers.BooleanField()
    group_by = serializers.CharField()
    base_currency = serializers.CharField(
        allow_null=True, help_text="Set when amounts are converted."
    )
    buckets = BucketOutput(many=True)
    totals = AgingLineOutput(many=True, help_text="Per currency, or one in base.")
    rows = AgingLineOutput(many=True, source="lines")
    row_count = serializers.IntegerField(source="line_count")
    page = serializers.IntegerField()
    page_count = serializers.IntegerField()
    fx_rates = FxOutput(many=True, source="rates")


class AgingInvoiceOutput(Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    customer = serializers.IntegerField(source="customer_id")
    customer_number = serializers.CharField(source="customer.number")
    currency = serializers.CharField()
    invoice_date = serializers.DateField()
    due_date = serializers.DateField()
    days_past_due = serializers.IntegerField()
    open_amount = serializers.CharField(help_text="Open on the as-of date.")


class AgingInvoicesOutput(Serializer):
    as_of = serializers.DateField()
    bucket = BucketOutput(allow_null=True)
    count = serializers.IntegerField()
    page = serializers.IntegerField()
    results = AgingInvoiceOutput(many=True)


class MonthOutput(Serializer):
    month = serializers.DateField()
    days = serializers.IntegerField()
    opening_receivables = serializers.CharField()
    receivables = serializers.CharField()
    current_receivables = serializers.CharField()
    overdue = serializers.CharField()
    credit_sales = serializers.CharField()
    dso_countback = serializers.CharField(allow_null=True)
    dso_simple = serializers.CharField(allow_null=True)
    best_possible_dso = serializers.CharField(allow_null=True)
    average_days_delinquent = serializers.CharField(allow_null=True)
    cei = serializers.CharField(allow_null=True)
    turnover = serializers.CharField(allow_null=True)
    percent_current = serializers.CharField(allow_null=True)


class SeriesOutput(Serializer):
    currency = serializers.CharField()
    converted = serializers.BooleanField()
    months = MonthOutput(many=True)


class MetricsOutput(Serializer):
    scope = serializers.CharField()
    key = serializers.CharField()
    source = serializers.CharField(
        help_text='"stored": the month-end snapshot; "ledger": summed now.'
    )
    computed_at = serializers.DateTimeField(allow_null=True)
    stale = serializers.BooleanField(
        help_text="The stored figures miss postings made since (allow_stale)."
    )
    definitions = serializers.DictField(child=serializers.CharField())
    series = SeriesOutput(many=True)


class ForecastWeekOutput(Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    expected = serializers.CharField(
        source="amount",
        help_text="Open amounts expected in the week: each invoice on its "
        "predicted (median) payment date, promised parts on their promised date.",
    )
    low = serializers.CharField(
        help_text="Late scenario: every scored invoice expected from today on paid "
        "on the last date of its 80 % interval (p90)."
    )
    high = serializers.CharField(
        help_text="Early scenario: every scored invoice expected from today on "
        "paid on the first date of its 80 % interval (p10; today if past)."
    )
    cumulative = serializers.CharField(
        help_text="Expected from today to the end of this week (the weeks' sum)."
    )
    cumulative_low = serializers.CharField(
        help_text="The same in the late scenario: the band's lower end."
    )
    cumulative_high = serializers.CharField(
        help_text="The same in the early scenario: the band's upper end."
    )


class AtRiskOutput(Serializer):
    amount = serializers.CharField()
    count = serializers.IntegerField(help_text="Invoices (or promised parts).")


class CashForecastOutput(Serializer):
    currency = serializers.CharField()
    past_expected = serializers.CharField(
        help_text="Expected before today and not received (not at risk)."
    )
    weeks = ForecastWeekOutput(many=True)
    later = serializers.CharField(
        help_text="Expected after the last week (= at_risk.beyond_horizon)."
    )
    promised = serializers.CharField(
        help_text="Part of the figures placed by open promises to pay."
    )
    expected_total = serializers.CharField(
        help_text="Past the expected date plus the weeks."
    )
    at_risk = serializers.SerializerMethodField(
        help_text="Not in the weeks, each invoice in the first that applies: "
        "disputed (open dispute), broken_promise (and no open promise), "
        "over_90_days (past due), beyond_horizon (median date after the weeks)."
    )
    at_risk_total = serializers.CharField()

    def get_at_risk(self, forecast) -> dict:
        return {key: AtRiskOutput(forecast.at_risk[key]).data for key in RISKS}


class ForecastOutput(Serializer):
    as_of = serializers.DateField()
    weeks = serializers.IntegerField()
    default_delay_days = serializers.IntegerField(
        help_text="Days beyond terms assumed for unscored invoices of customers "
        "without history."
    )
    currencies = CashForecastOutput(many=True, help_text="Per currency.")
    base = CashForecastOutput(
        allow_null=True, help_text="All currencies in the base currency."
    )


class MethodFiguresOutput(Serializer):
    method = serializers.CharField(
        source="key", help_text="model, customer_median or due_date."
    )
    invoices = serializers.IntegerField(source="count")
    mean_error_days = PlainDecimalField(
        source="mae_days", max_digits=8, decimal_places=1, allow_null=True
    )
    within_3_days_percent = PlainDecimalField(
        source="within_3_percent", max_digits=5, decimal_places=1, allow_null=True
    )
    within_7_days_percent = PlainDecimalField(
        source="within_7_percent", max_digits=5, decimal_places=1, allow_null=True
    )
    interval_coverage_percent = PlainDecimalField(
        source="coverage_percent",
        max_digits=5,
        decimal_places=1,
        allow_null=True,
        help_text="Outcomes inside the 80 % interval (none for the due date).",
    )
    serves = serializers.BooleanField()


class PredictionServingOutput(Serializer):
    kind = serializers.CharField(source="record.kind", help_text="model or baseline.")
    reason = serializers.CharField(source="record.reason")
    trained_at = serializers.DateTimeField(source="record.trained_at")
    trained_through = serializers.DateField(source="record.trained_through")
    settled_invoices = serializers.IntegerField(source="record.settled_invoices")
    open_invoices_scored = serializers.IntegerField(source="record.predictions_count")
    recent_percent = serializers.IntegerField(
        help_text="The most recent share of settled history the figures are "
        "measured on."
    )
    methods = MethodFiguresOutput(many=True)


class HorizonAccuracyOutput(Serializer):
    weeks_ahead = serializers.IntegerField(source="horizon")
    weeks_scored = serializers.IntegerField(source="weeks")
    reconstructed = serializers.IntegerField(
        help_text="Of the weeks scored, forecasts rebuilt afterwards from the "
        "history as they would have been made then (not kept as made)."
    )
    forecast = serializers.SerializerMethodField()
    received = serializers.SerializerMethodField()
    wape_percent = PlainDecimalField(max_digits=9, decimal_places=1, allow_null=True)
    bias_percent = PlainDecimalField(max_digits=9, decimal_places=1, allow_null=True)

    def get_forecast(self, row) -> str:
        return str(exact(row.forecast, self.context["currency"]))

    def get_received(self, row) -> str:
        return str(exact(row.actual, self.context["currency"]))


class CurrencyAccuracyOutput(Serializer):
    currency = serializers.CharField()
    horizons = serializers.SerializerMethodField()

    def get_horizons(self, row) -> list[dict]:
        return HorizonAccuracyOutput(
            row.horizons, many=True, context={"currency": row.currency}
        ).data


class PredictionAccuracyOutput(Serializer):
    as_of = serializers.DateField()
    prediction = PredictionServingOutput(
        allow_null=True,
        help_text="The latest training: what serves and its figures on recent "
        "history, model beside both baselines; null before the first run.",
    )
    forecast = CurrencyAccuracyOutput(
        many=True,
        help_text="The kept weekly cash forecasts against the cash received, per "
        "currency and weeks ahead, on the weeks since ended.",
    )


# --- views ------------------------------------------------------------------------


class AgingView(TenantAPIView):
    """Aging by due date: totals per currency (or in base) and a page of rows.

    Today's aging reads open invoices; a past ``as_of`` sums the ledger up to that
    day, so it shows the receivables as they stood then. Unapplied cash is beside
    the buckets and reduces the net balance.
    """

    @extend_schema(parameters=[AgingReportInput], responses=AgingOutput)
    @report_reads()
    def get(self, request):
        query = AgingReportInput(
            data=request.query_params, context={"organization": request.organization}
        )
        query.is_valid(raise_exception=True)
        data = query.validated_data
        report = aging_report(
            as_of=data.get("as_of"),
            boundaries=query.boundaries(),
            group_by=data["group_by"],
            filters=query.filters(),
            in_base=data["in_base"],
            sort=data["sort"],
            page=data["page"],
            page_size=data["page_size"],
        )
        return Response(AgingOutput(report).data)


class AgingInvoicesView(TenantAPIView):
    """The invoices behind an aging figure, with their open amount on the as-of
    date, oldest due date first."""

    @extend_schema(parameters=[AgingInvoicesInput], responses=AgingInvoicesOutput)
    @report_reads()
    def get(self, request):
        query = AgingInvoicesInput(
            data=request.query_params, context={"organization": request.organization}
        )
        query.is_valid(raise_exception=True)
        data = query.validated_data
        buckets = make_buckets(query.boundaries())
        bucket = None
        if data.get("bucket") is not None:
            if data["bucket"] >= len(buckets):
                raise DomainError("invalid_choice", "No such bucket.", field="bucket")
            bucket = buckets[data["bucket"]]
        invoices = aging_invoices(
            as_of=data.get("as_of"), bucket=bucket, filters=query.filters()
        )
        as_of = data.get("as_of") or request.organization.today()
        size, page = data["page_size"], data["page"]
        rows = list(invoices[(page - 1) * size : page * size])
        for invoice in rows:
            invoice.days_past_due = max((as_of - invoice.due_date).days, 0)
            invoice.open_amount = exact(invoice.open_as_of, invoice.currency)
        body = {
            "as_of": as_of,
            "bucket": bucket,
            "count": invoices.count(),
            "page": page,
            "results": rows,
        }
        return Response(AgingInvoicesOutput(body).data)


class MetricsView(TenantAPIView):
    """Monthly DSO (countback and simple), Best Possible DSO, ADD, CEI, AR turnover,
    % current and overdue for the organization, a collector or a segment, with
    the definition of each figure."""

    @extend_schema(parameters=[MetricsInput], responses=MetricsOutput)
    @report_reads()
    def get(self, request):
        query = MetricsInput(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        key = data["key"]
        if data["scope"] == "collector" and key and key != "none":
            key = str(collector_id(request.organization, key, field="key"))
        report = metrics_report(
            end_month=query.end_month_date(),
            months=data["months"],
            scope=data["scope"],
            key=key,
            in_base=data["in_base"],
            allow_stale=data["allow_stale"],
        )
        body = {
            "scope": report.scope,
            "key": report.key,
            "source": report.source,
            "computed_at": report.computed_at,
            "stale": report.stale,
            "definitions": DEFINITIONS,
            "series": report.series,
        }
        return Response(MetricsOutput(body).data)


class ForecastView(TenantAPIView):
    """Cash expected per week from open invoices, per currency and in the base
    currency (latest rate on or before today; a missing rate is an error), with
    a band from the predictions' 80 % intervals and the amounts at risk apart."""

    @extend_schema(parameters=[ForecastInput], responses=ForecastOutput)
    @report_reads()
    def get(self, request):
        query = ForecastInput(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        forecasts = cash_forecast(
            weeks=data["weeks"], currency=data.get("currency", "")
        )
        today = request.organization.today()
        base = in_base_currency(forecasts, today) if forecasts else None
        body = {
            "as_of": today,
            "weeks": data["weeks"],
            "default_delay_days": (forecasts[0].default_delay_days if forecasts else 0),
            "currencies": forecasts,
            "base": base,
        }
        return Response(ForecastOutput(body).data)


class PredictionAccuracyView(TenantAPIView):
    """How accurate the payment-date prediction and the cash forecast were: the
    latest training's figures on recent history (mean error in days, within
    ±3/±7 days, 80 % interval coverage) beside the baselines, and per currency
    and weeks ahead the kept forecasts' WAPE and bias against cash received."""

    @extend_schema(responses=PredictionAccuracyOutput)
    def get(self, request):
        today = request.organization.today()
        body = {
            "as_of": today,
            "prediction": prediction_accuracy(),
            "forecast": forecast_accuracy(today=today),
        }
        return Response(PredictionAccuracyOutput(body).data)
