"""FX rates: enter, change, remove and import the rates reports convert with.

A stored rate says how many units of the organization's base currency one unit of
``currency`` was worth on ``date`` (``FxRate``); reports use the latest rate on or
before their as-of date. A "pair" is therefore always ``currency → base``: a rate
quoted against another currency is refused, never inverted or chained, because a
converted total must be traceable to one stored figure.

A second rate for the same currency and day is refused (409) unless the caller
says to replace it: the page asks for that confirmation, the CSV upload has a
"replace" box, and the API answers 409 naming the stored rate.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils.translation import gettext as _

from o2c.errors import ConflictError, DomainError
from o2c.models import FxRate
from o2c.money import validate_currency
from o2c.services import Actor, audit_record, lock
from o2c.tenancy import current_organization

# FxRate.rate: 20 digits, 10 of them decimals.
RATE_DECIMALS = 10
RATE_LIMIT = Decimal(10) ** 10
MAX_IMPORT_ROWS = 20_000
CSV_COLUMNS = ("date", "from_currency", "to_currency", "rate")


@dataclass(frozen=True)
class FxRateInput:
    currency: str
    date: date
    rate: Decimal


def parse_rate(value, *, field: str = "rate") -> Decimal:
    """A positive rate with at most 10 decimals, as typed ("1.0842")."""
    text = str(value if value is not None else "").strip()
    try:
        rate = Decimal(text)
    except InvalidOperation:
        raise DomainError(
            "invalid_rate",
            _("'%(text)s' is not a number, e.g. 1.0842.") % {"text": text},
            field=field,
        ) from None
    if not rate.is_finite() or rate <= 0:
        raise DomainError("invalid_rate", _("A rate must be above zero."), field=field)
    if rate >= RATE_LIMIT:
        raise DomainError(
            "invalid_rate",
            _("A rate must be below %(limit)s.") % {"limit": f"{RATE_LIMIT:,}"},
            field=field,
        )
    if rate.as_tuple().exponent < -RATE_DECIMALS:
        raise DomainError(
            "invalid_rate",
            _("A rate has at most %(decimals)s decimal places.")
            % {"decimals": RATE_DECIMALS},
            field=field,
        )
    return rate


def parse_date(value, *, field: str = "date") -> date:
    if isinstance(value, date):
        return value
    text = str(value or "").strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise DomainError(
            "invalid_date",
            _("'%(text)s' is not a date: write it as YYYY-MM-DD.") % {"text": text},
            field=field,
        ) from None


def foreign_currency(value, *, field: str = "currency") -> str:
    """An ISO 4217 currency other than the base currency (whose rate is 1)."""
    try:
        currency = validate_currency(str(value or ""))
    except DomainError as error:
        raise DomainError(error.code, error.message, field=field) from None
    base = current_organization().base_currency
    if currency == base:
        raise DomainError(
            "base_currency",
            _("%(base)s is the base currency: its rate is always 1.") % {"base": base},
            field=field,
        )
    return currency


def quote_currency(value, *, field: str = "to_currency") -> str:
    """The currency a rate is quoted in: must be the base currency."""
    base = current_organization().base_currency
    if value in (None, ""):
        return base
    try:
        currency = validate_currency(str(value))
    except DomainError as error:
        raise DomainError(error.code, error.message, field=field) from None
    if currency != base:
        raise DomainError(
            "not_base_currency",
            _("Rates are stored against the base currency %(base)s, not %(currency)s.")
            % {"base": base, "currency": currency},
            field=field,
        )
    return currency


def fx_rate_input(*, currency, date_value, rate, to_currency=None) -> FxRateInput:
    """Check one rate as a person or a client typed it."""
    quote_currency(to_currency)
    return FxRateInput(
        currency=foreign_currency(currency),
        date=parse_date(date_value),
        rate=parse_rate(rate),
    )


@transaction.atomic
def fx_rate_create(
    *, rate_input: FxRateInput, actor: Actor, replace: bool = False
) -> FxRate:
    """Store a rate; the day's existing rate is replaced only when ``replace``."""
    existing = (
        FxRate.objects.select_for_update()
        .filter(currency=rate_input.currency, date=rate_input.date)
        .first()
    )
    if existing is not None:
        if not replace:
            raise _duplicate(existing)
        return fx_rate_change(fx_rate=existing, rate=rate_input.rate, actor=actor)
    fx_rate = FxRate.objects.create(
        organization=current_organization(),
        currency=rate_input.currency,
        date=rate_input.date,
        rate=rate_input.rate,
    )
    audit_record(
        actor=actor, obj=fx_rate, action="fx_rate_created", data=_data(fx_rate)
    )
    return fx_rate


@transaction.atomic
def fx_rate_change(*, fx_rate: FxRate, rate: Decimal, actor: Actor) -> FxRate:
    locked = lock(fx_rate)
    previous = locked.rate
    if previous == rate:
        return locked
    locked.rate = rate
    locked.save(update_fields=["rate"])
    audit_record(
        actor=actor,
        obj=locked,
        action="fx_rate_changed",
        data=_data(locked) | {"previous_rate": str(previous)},
    )
    return locked


@transaction.atomic
def fx_rate_delete(*, fx_rate: FxRate, actor: Actor) -> None:
    locked = lock(fx_rate)
    audit_record(actor=actor, obj=locked, action="fx_rate_deleted", data=_data(locked))
    locked.delete()


@dataclass
class FxImportResult:
    created: int = 0
    replaced: int = 0
    unchanged: int = 0


class FxImportError(DomainError):
    """A file refused as a whole; ``lines`` lists every line at fault."""

    def __init__(self, lines: list[str]):
        shown = "; ".join(lines[:20])
        more = ""
        if len(lines) > 20:
            more = " " + _("(and %(count)s more)") % {"count": len(lines) - 20}
        super().__init__(
            "invalid_file",
            _("Nothing was imported.") + f" {shown}{more}",
            field="file",
        )
        self.lines = lines


@transaction.atomic
def fx_rates_import(
    *, content: bytes, actor: Actor, replace: bool = False
) -> FxImportResult:
    """Import a CSV of ``date,from_currency,to_currency,rate`` all or nothing.

    Every line is checked before anything is written, and every error names its
    line (the header is line 1). A rate already stored for the same currency and
    day is an error unless ``replace``; the same day twice in one file always is.
    """
    rows = _read_csv(content)
    inputs, errors = _check_rows(rows, replace=replace)
    if errors:
        raise FxImportError(errors)
    result = FxImportResult()
    for rate_input in inputs:
        existing = FxRate.objects.filter(
            currency=rate_input.currency, date=rate_input.date
        ).first()
        if existing is None:
            fx_rate_create(rate_input=rate_input, actor=actor)
            result.created += 1
        elif existing.rate == rate_input.rate:
            result.unchanged += 1
        else:
            fx_rate_change(fx_rate=existing, rate=rate_input.rate, actor=actor)
            result.replaced += 1
    return result


def _read_csv(content: bytes) -> list[tuple[int, dict]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FxImportError([_("The file is not UTF-8 text.")]) from None
    sample = text[:2048]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    header = next(reader, None)
    if header is None:
        raise FxImportError([_("The file is empty.")])
    names = [_column_name(name) for name in header]
    missing = [column for column in CSV_COLUMNS if column not in names]
    if missing:
        raise FxImportError(
            [
                _(
                    "line 1: missing column(s) %(missing)s; the header must be "
                    "%(header)s"
                )
                % {"missing": ", ".join(missing), "header": ",".join(CSV_COLUMNS)}
            ]
        )
    rows = []
    for number, values in enumerate(reader, start=2):
        if not any(value.strip() for value in values):
            continue
        if len(rows) >= MAX_IMPORT_ROWS:
            raise FxImportError(
                [
                    _("The file has more than %(limit)s rates.")
                    % {"limit": MAX_IMPORT_ROWS}
                ]
            )
        rows.append((number, dict(zip(names, values, strict=False))))
    if not rows:
        raise FxImportError([_("The file has a header but no rates.")])
    return rows


def _column_name(name: str) -> str:
    """ "From currency", "from-currency" and "from_currency" name one column."""
    return "_".join(name.strip().lower().replace("-", " ").split())


def _check_rows(rows, *, replace: bool) -> tuple[list[FxRateInput], list[str]]:
    inputs, errors, seen = [], [], {}
    for number, row in rows:
        try:
            quote_currency(row.get("to_currency") or "-", field="to_currency")
            rate_input = FxRateInput(
                currency=foreign_currency(row.get("from_currency"), field="from"),
                date=parse_date(row.get("date")),
                rate=parse_rate(row.get("rate")),
            )
        except DomainError as error:
            errors.append(
                _("line %(number)s: %(message)s")
                % {"number": number, "message": error.message}
            )
            continue
        key = (rate_input.currency, rate_input.date)
        if key in seen:
            errors.append(
                _(
                    "line %(number)s: %(currency)s on %(date)s is already on line "
                    "%(first)s"
                )
                % {
                    "number": number,
                    "currency": rate_input.currency,
                    "date": rate_input.date.isoformat(),
                    "first": seen[key],
                }
            )
            continue
        seen[key] = number
        inputs.append(rate_input)
    if not replace:
        errors.extend(_already_stored(inputs, seen))
    return inputs, errors


def _already_stored(inputs: list[FxRateInput], lines: dict) -> list[str]:
    currencies = {rate_input.currency for rate_input in inputs}
    dates = [rate_input.date for rate_input in inputs]
    if not dates:
        return []
    stored = {
        (currency, day): rate
        for currency, day, rate in FxRate.objects.filter(
            currency__in=currencies, date__range=(min(dates), max(dates))
        ).values_list("currency", "date", "rate")
    }
    errors = []
    for rate_input in inputs:
        key = (rate_input.currency, rate_input.date)
        if key in stored and stored[key] != rate_input.rate:
            errors.append(
                _(
                    "line %(number)s: %(currency)s on %(date)s is stored as %(rate)s; "
                    "tick “Replace stored rates” to change it"
                )
                % {
                    "number": lines[key],
                    "currency": rate_input.currency,
                    "date": rate_input.date.isoformat(),
                    "rate": rate_text(stored[key]),
                }
            )
    return errors


def _duplicate(existing: FxRate) -> ConflictError:
    return ConflictError(
        "duplicate",
        _(
            "A rate for %(currency)s on %(date)s is already stored (%(rate)s); change "
            "that one instead."
        )
        % {
            "currency": existing.currency,
            "date": existing.date.isoformat(),
            "rate": rate_text(existing.rate),
        },
        field="date",
    )


def rate_text(rate: Decimal) -> str:
    """1.0842000000 as "1.0842", 100 as "100" (not "1E+2")."""
    return format(rate.normalize(), "f")


def _data(fx_rate: FxRate) -> dict:
    return {
        "currency": fx_rate.currency,
        "date": fx_rate.date.isoformat(),
        "rate": str(fx_rate.rate),
    }
