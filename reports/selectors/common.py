"""Helpers every report shares: FX conversion, exact sums from SQL, day counts."""

from __future__ import annotations

import bisect
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import connection, connections, transaction
from django.db.models import BooleanField, Func, IntegerField

from o2c.errors import DomainError
from o2c.models import FxRate
from o2c.money import quantize
from o2c.replica import report_database
from o2c.tenancy import current_organization


def to_decimal(value) -> Decimal:
    """A number from the database (a float on SQLite) as a Decimal."""
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def exact(value, currency: str) -> Decimal:
    """A sum from the database as an exact amount of ``currency``.

    PostgreSQL sums ``numeric`` exactly. SQLite sums decimals as floats, but every
    stored amount has at most three decimals, so the float is within far less than
    half a minor unit of the true sum and rounding recovers it exactly.
    """
    if value is None:
        return quantize(0, currency)
    amount = quantize(to_decimal(value), currency)
    return amount if amount else abs(amount)  # never "-0.00"


@dataclass(frozen=True)
class FxQuote:
    """``rate`` base units per unit of ``currency``, stored for ``rate_date``."""

    currency: str
    rate: Decimal
    rate_date: date | None  # None for the base currency itself

    def convert(self, amount: Decimal, base: str) -> Decimal:
        return quantize(amount * self.rate, base)

    def as_params(self) -> tuple[str, Decimal]:
        return self.currency, self.rate


class FxRates:
    """Stored rates, the latest on or before a date. Each currency's rates are
    read once (a few hundred rows a year) and looked up in memory, so a series
    of month ends costs one query per currency.

    A missing rate is an error naming the currency and the date: converting at a
    made-up 1.0 would print a wrong total that looks right.
    """

    def __init__(self, base: str | None = None):
        self.base = base or current_organization().base_currency
        self._history: dict[str, tuple[list[date], list[Decimal]]] = {}

    def quote(self, currency: str, on: date) -> FxQuote:
        if currency == self.base:
            return FxQuote(currency, Decimal(1), None)
        if currency not in self._history:
            rows = list(
                FxRate.objects.filter(currency=currency)
                .order_by("date")
                .values_list("date", "rate")
            )
            self._history[currency] = (
                [day for day, _ in rows],
                [rate for _, rate in rows],
            )
        days, rates = self._history[currency]
        index = bisect.bisect_right(days, on)
        if index == 0:
            raise DomainError(
                "missing_fx_rate",
                f"No FX rate for {currency} on or before {on.isoformat()}: add "
                f"the rate to convert {currency} amounts to {self.base}.",
                field="currency",
            )
        return FxQuote(currency, rates[index - 1], days[index - 1])

    def convert(self, amount: Decimal, currency: str, on: date) -> Decimal:
        return self.quote(currency, on).convert(amount, self.base)

    def known_quotes(self, on: date) -> dict[str, FxQuote]:
        """Quotes of every currency that has a stored rate on or before ``on``."""
        quotes = {}
        currencies = FxRate.objects.order_by().values_list("currency", flat=True)
        for currency in {*currencies.distinct(), self.base}:
            try:
                quotes[currency] = self.quote(currency, on)
            except DomainError:
                continue  # not needed unless figures are in it: checked then
        return quotes


class DaysBetween(Func):
    """Whole days from ``start`` to ``end`` (``end - start``) of two dates."""

    output_field = IntegerField()
    arity = 2

    def as_sql(self, compiler, connection, **extra_context):
        end, start = self.get_source_expressions()
        end_sql, end_params = compiler.compile(end)
        start_sql, start_params = compiler.compile(start)
        if connection.vendor == "sqlite":
            sql = f"CAST(julianday({end_sql}) - julianday({start_sql}) AS INTEGER)"
        else:  # PostgreSQL: date - date is an integer number of days
            sql = f"({end_sql} - {start_sql})"
        return sql, (*end_params, *start_params)


class IsMonthsLastDay(Func):
    """Whether a date is the last day of its month (the next day is a 1st)."""

    output_field = BooleanField()
    arity = 1

    def as_sql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.get_source_expressions()[0])
        if connection.vendor == "sqlite":
            return f"(strftime('%%d', {sql}, '+1 day') = '01')", params
        # PostgreSQL: date + integer is a date
        return f"(EXTRACT(DAY FROM {sql} + 1) = 1)", params


def fetch_all(sql: str, params, *, jit: bool = True) -> list[tuple]:
    """Rows of a raw query. ``jit=False`` turns PostgreSQL's JIT compilation off
    for it: on a sub-second report query the compiling costs more (a few hundred
    ms) than it saves. Inside :func:`o2c.replica.report_reads` it reads the
    reports replica when one is configured."""
    database = report_database()
    with transaction.atomic(using=database), connections[database].cursor() as cursor:
        if not jit and connections[database].vendor == "postgresql":
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, params)
        return cursor.fetchall()


@contextmanager
def serial_plan():
    """Within it, PostgreSQL plans the report reads without parallel workers:
    for a query it wrongly expects to read millions of rows (one tenant's
    newest entries, say), starting the workers costs more than the read."""
    database = report_database()
    with transaction.atomic(using=database):
        if connections[database].vendor == "postgresql":
            with connections[database].cursor() as cursor:
                cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        yield


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def month_end(day: date) -> date:
    """The last day of ``day``'s month."""
    return date.fromordinal(add_months(day, 1).toordinal() - 1)


def add_months(day: date, months: int) -> date:
    """The first day of the month ``months`` after ``day``'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)
