"""A believable receivables history, simulated month by month from one seed.

Each customer has a segment (volume, basket size, terms) and a payment behaviour.
When an invoice is made its whole future is decided at once — credit note, the
payment(s) with their dates and amounts, short payments written off or left open,
overpayments, cash received but not yet matched — and every event dated after
"today" is dropped, so the invoice is loaded with its final open amount and the
events are emitted in the month they happen (numbers then run in date order).

Everything is drawn from one ``random.Random(seed)`` in a fixed order: the same
seed, size and today give the same company.
"""

from __future__ import annotations

import calendar
import math
import random
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from demo import data
from invoicing.models import Invoice
from invoicing.services.bulk import (
    CreditNoteSpec,
    InvoiceSpec,
    LineSpec,
    PlannedCredit,
    price_invoice,
    price_lines,
)
from o2c.money import quantize, split_evenly
from orders.models import Customer, PaymentTerm
from reconciliation.models import Payment
from reconciliation.services.bulk import AllocationSpec, PaymentSpec, WriteOffSpec

ORDER_WINDOW_DAYS = 75  # invoices this recent come from sales orders (some of them)
UNMATCHED_WINDOW_DAYS = 10  # cash this recent may still wait for its remittance
EU_VAT = {"DE"}  # domestic VAT; other EU countries are reverse charge


@dataclass(slots=True, eq=False)
class CustomerProfile:
    index: int
    segment: str
    behaviour: str
    country: str
    currency: str
    term: PaymentTerm
    rate: float
    first_month: int
    last_month: int
    pays_in_runs: bool
    name: str = ""
    legal_name: str = ""
    city: str = ""
    risk_class: str = Customer.Risk.MEDIUM
    stop_date: date | None = None  # pays nothing from this day on
    hold_date: date | None = None  # on credit hold (no more orders) from this day
    id: int | None = None
    number: str = ""


@dataclass(slots=True)
class PayEvent:
    customer: CustomerProfile
    received_date: date
    invoice: InvoiceSpec
    allocated: Decimal  # applied to the invoice (0: remittance still missing)
    unapplied: Decimal  # left on account
    in_run: bool  # paid in the customer's weekly run, with that day's other invoices


@dataclass
class MonthChunk:
    first_day: date
    invoices: list[InvoiceSpec] = field(default_factory=list)
    ordered: list[tuple[InvoiceSpec, CustomerProfile]] = field(default_factory=list)
    credit_notes: list[CreditNoteSpec] = field(default_factory=list)
    payments: list[PaymentSpec] = field(default_factory=list)
    write_offs: list[WriteOffSpec] = field(default_factory=list)


class History:
    def __init__(
        self,
        *,
        seed: int,
        customers: int,
        months: int,
        today: date,
        terms: dict[str, PaymentTerm],
        items: list,
    ):
        self.random = random.Random(seed)
        self.today = today
        self.months = [_add_months(today.replace(day=1), -k) for k in range(months)]
        self.months.reverse()
        self.start = self.months[0]
        self.terms = terms
        self.items = [item for item in items if item.sku not in data.SERVICE_SKUS]
        self.services = [item for item in items if item.sku in data.SERVICE_SKUS]
        self._events: dict[int, list] = defaultdict(list)
        self._names: set[str] = set()
        self.customers = [self._customer(index) for index in range(customers)]
        self._ensure_currencies()

    # --- customers ---------------------------------------------------------------
    def _customer(self, index: int) -> CustomerProfile:
        rnd = self.random
        segment = _weighted(rnd, {s: v["share"] for s, v in data.SEGMENTS.items()})
        spec = data.SEGMENTS[segment]
        behaviour = _weighted(rnd, spec["behaviour"])
        if segment == "public sector":
            country, currency = "DE", "EUR"
        else:
            country, currency = self._country(rnd.random())
        last = len(self.months) - 1
        first_month = 0 if rnd.random() < 0.7 else rnd.randint(1, max(1, last - 1))
        last_month = last if rnd.random() < 0.92 else rnd.randint(first_month, last)
        profile = CustomerProfile(
            index=index,
            segment=segment,
            behaviour=behaviour,
            country=country,
            currency=currency,
            term=self.terms[_weighted(rnd, spec["terms"])],
            rate=spec["rate"] * rnd.uniform(0.5, 1.5),
            first_month=min(first_month, last),
            last_month=last_month,
            pays_in_runs=segment in ("enterprise", "public sector")
            or (segment == "mid-market" and rnd.random() < 0.5),
        )
        profile.risk_class = {
            "prompt": Customer.Risk.LOW,
            "late": Customer.Risk.MEDIUM,
            "slow": Customer.Risk.LOW,
            "erratic": rnd.choice([Customer.Risk.MEDIUM, Customer.Risk.HIGH]),
            "stopped": Customer.Risk.HIGH,
        }[behaviour]
        if behaviour == "stopped":
            profile.stop_date = self.today - timedelta(days=rnd.randint(75, 260))
            profile.hold_date = profile.stop_date + timedelta(days=rnd.randint(30, 60))
        self._name(profile)
        return profile

    def _country(self, draw: float) -> tuple[str, str]:
        if draw < 0.05:
            return "US", "USD"
        if draw < 0.09:
            return "GB", "GBP"
        if draw < 0.092:
            return "JP", "JPY"
        countries = dict(data.EUR_COUNTRIES)
        return _weighted(self.random, countries), "EUR"

    def _ensure_currencies(self) -> None:
        """Small demos still show each currency (one JPY customer from 20 up)."""
        wanted = [("US", "USD"), ("GB", "GBP")]
        if len(self.customers) >= 20:
            wanted.append(("JP", "JPY"))
        present = {c.currency for c in self.customers}
        candidates = [c for c in self.customers if c.segment in ("SMB", "mid-market")]
        for slot, (country, currency) in enumerate(wanted):
            if currency in present or slot >= len(candidates):
                continue
            profile = candidates[-1 - slot]
            profile.country, profile.currency = country, currency
            self._names.discard(profile.name)
            self._name(profile)

    def _name(self, profile: CustomerProfile) -> None:
        rnd, country = self.random, profile.country
        city, _ = rnd.choice(data.CITIES[country])
        profile.city = city
        if profile.segment == "public sector":
            base = rnd.choice(data.PUBLIC_BODIES).format(city=city)
            name = base
            form = ""
        else:
            language = {"de": "de", "en": "en", "ja": "ja"}.get(
                data.LANGUAGE[country], "other"
            )
            prefix = rnd.choice(data.NAME_PARTS[language])
            business = rnd.choice(data.BUSINESSES["de" if language == "de" else "en"])
            base = f"{prefix} {business}"
            form = rnd.choice(data.LEGAL_FORMS[country])
            name = f"{base} {form}"
        ordinal = 1
        while name in self._names:
            ordinal += 1
            name = f"{base} {city if ordinal == 2 else ordinal} {form}".strip()
        self._names.add(name)
        profile.name = profile.legal_name = name

    # --- months --------------------------------------------------------------------
    def month_invoices(self, index: int) -> MonthChunk:
        """The month's invoices in date order; load them before :meth:`month_events`."""
        first_day = self.months[index]
        chunk = MonthChunk(first_day=first_day)
        season = data.SEASON[first_day.month] * (1 + 0.07 * index / 12)
        made = []
        for customer in self.customers:
            if not (customer.first_month <= index <= customer.last_month):
                continue
            for _ in range(_poisson(self.random, customer.rate * season)):
                day = self._business_day(first_day)
                if day is None or (customer.hold_date and day >= customer.hold_date):
                    continue
                made.append((day, customer.index, customer))
        made.sort(key=lambda row: (row[0], row[1]))
        for day, _, customer in made:
            invoice = self._invoice(customer, day)
            chunk.invoices.append(invoice)
            if invoice.source == Invoice.Source.ORDER:
                chunk.ordered.append((invoice, customer))
        return chunk

    def _business_day(self, first_day: date) -> date | None:
        last = calendar.monthrange(first_day.year, first_day.month)[1]
        if (first_day.year, first_day.month) == (self.today.year, self.today.month):
            last = self.today.day
        day = first_day.replace(day=self.random.randint(1, last))
        if day.weekday() >= 5:
            day -= timedelta(days=day.weekday() - 4)
            if day < first_day:
                day += timedelta(days=3)
        return day if day <= self.today else None

    # --- one invoice and its future -----------------------------------------------
    def _invoice(self, customer: CustomerProfile, day: date) -> InvoiceSpec:
        rnd = self.random
        spec = data.SEGMENTS[customer.segment]
        lines = [
            self.line(customer, item, rnd.randint(*spec["quantity"]))
            for item in rnd.sample(self.items, rnd.randint(*spec["lines"]))
        ]
        if rnd.random() < 0.15:
            lines.append(self.line(customer, rnd.choice(self.services), 1))
        recent = (self.today - day).days <= ORDER_WINDOW_DAYS
        from_order = (
            recent and customer.segment != "public sector" and rnd.random() < 0.35
        )
        invoice = InvoiceSpec(
            customer_id=customer.id,
            currency=customer.currency,
            invoice_date=day,
            term=customer.term,
            lines=lines,
            source=Invoice.Source.ORDER if from_order else Invoice.Source.DIRECT,
            customer_reference=(
                f"4500{rnd.randint(100000, 999999)}"
                if customer.segment in ("enterprise", "public sector")
                else ""
            ),
            notes=_tax_note(customer.country),
        )
        price_invoice(invoice)
        if (self.today - day).days <= 2 and rnd.random() < 0.12:
            invoice.draft = True
        elif rnd.random() < 0.003 and not from_order:
            void_date = day + timedelta(days=rnd.randint(1, 8))
            if void_date <= self.today:
                invoice.void_date = void_date
        else:
            self._plan(invoice, customer)
        return invoice

    def line(self, customer, item, quantity: int) -> LineSpec:
        """A line of ``item``; dear items sell in smaller quantities than cheap ones."""
        if item.unit_price > data.UNIT_BUDGET:
            quantity = max(1, round(quantity * data.UNIT_BUDGET / item.unit_price))
        price = quantize(
            Decimal(item.unit_price) * data.PRICE_FACTOR[customer.currency],
            customer.currency,
        )
        return LineSpec(
            description=item.name,
            quantity=Decimal(quantity),
            unit_price=price,
            tax_rate=item.tax_rate if customer.country in EU_VAT else Decimal(0),
            item_id=item.pk,
        )

    def _plan(self, invoice: InvoiceSpec, customer: CustomerProfile) -> None:
        """Decide the invoice's credit note, payments and write-offs up to today."""
        rnd = self.random
        remaining = invoice.total
        not_before = invoice.invoice_date
        if rnd.random() < 0.025:
            credit_note = self._credit_note(invoice)
            if credit_note is not None:
                amount = price_lines(credit_note.lines, invoice.currency)[3]
                self._credit(invoice, credit_note.credit_date, amount, credit_note)
                remaining -= amount
                not_before = credit_note.credit_date + timedelta(days=1)
        if remaining == 0:
            return
        parts = [due for due, _ in invoice.schedule]
        amounts = split_evenly(
            remaining, [amount for _, amount in invoice.schedule], invoice.currency
        )
        for due, amount in zip(parts, amounts, strict=True):
            if not self._plan_payment(invoice, customer, due, amount, not_before):
                break

    def _plan_payment(self, invoice, customer, due, amount, not_before) -> bool:
        """Plan the payment of one due amount; False when it is not (fully) paid."""
        rnd = self.random
        paid_on = max(due + timedelta(days=self._delay(customer)), not_before)
        if customer.pays_in_runs:  # weekly payment run on Thursdays
            paid_on += timedelta(days=(3 - paid_on.weekday()) % 7)
        if not self._pays(customer, paid_on):
            return False
        in_run = customer.pays_in_runs
        if (self.today - paid_on).days < UNMATCHED_WINDOW_DAYS and rnd.random() < 0.3:
            self._pay(customer, paid_on, invoice, Decimal(0), amount, in_run)
            return False
        draw = rnd.random()
        if customer.behaviour == "erratic" and draw < 0.22 and amount > 1:
            first = quantize(amount * Decimal(rnd.uniform(0.3, 0.7)), invoice.currency)
            self._pay(customer, paid_on, invoice, first, Decimal(0), False)
            rest_on = paid_on + timedelta(days=rnd.randint(14, 60))
            if not self._pays(customer, rest_on):
                return False
            self._pay(customer, rest_on, invoice, amount - first, Decimal(0), False)
        elif draw < 0.035 and amount > 100:
            self._short_payment(invoice, customer, paid_on, amount, in_run)
        elif draw < 0.055:
            extra = quantize(
                max(amount * Decimal(rnd.uniform(0.002, 0.05)), Decimal(1)),
                invoice.currency,
            )
            self._pay(customer, paid_on, invoice, amount, extra, False)
        else:
            self._pay(customer, paid_on, invoice, amount, Decimal(0), in_run)
        return True

    def _short_payment(self, invoice, customer, paid_on, amount, in_run) -> None:
        """Paid less (bank charges, an unagreed discount): written off or chased."""
        rnd, currency = self.random, invoice.currency
        if currency == "EUR" and rnd.random() < 0.5:
            difference = quantize(amount * Decimal("0.02"), currency)
            reason = "Short payment: cash discount taken after the discount period"
        else:
            charge = Decimal(rnd.choice(["7.50", "12.00", "15.00", "25.00"]))
            difference = quantize(charge * data.PRICE_FACTOR[currency], currency)
            reason = "Short payment: bank charges deducted by the payer"
        difference = min(difference, amount - quantize(1, currency))
        self._pay(customer, paid_on, invoice, amount - difference, Decimal(0), in_run)
        written_off_on = paid_on + timedelta(days=rnd.randint(2, 20))
        eur = difference / data.PRICE_FACTOR[currency]
        if (
            eur <= data.COMPANY["write_off_limit"]
            and written_off_on <= self.today
            and rnd.random() < 0.7
        ):
            self._credit(invoice, written_off_on, difference)
            self._event(
                written_off_on,
                WriteOffSpec(invoice, difference, written_off_on, reason),
            )

    def _credit_note(self, invoice: InvoiceSpec) -> CreditNoteSpec | None:
        rnd = self.random
        credit_date = invoice.invoice_date + timedelta(days=rnd.randint(3, 25))
        if credit_date > self.today:
            return None
        reason, kind = rnd.choice(data.CREDIT_REASONS)
        if kind == "return" and rnd.random() < 0.3:
            reason = "Order cancelled, all goods returned"
            lines = [
                LineSpec(
                    f"Return: {line.description}",
                    line.quantity,
                    line.unit_price,
                    line.tax_rate,
                )
                for line in invoice.lines
            ]
        else:
            line = rnd.choice(invoice.lines)
            if kind == "return":
                quantity = Decimal(max(1, int(line.quantity * Decimal("0.3"))))
                lines = [
                    LineSpec(
                        f"Return: {line.description}",
                        quantity,
                        line.unit_price,
                        line.tax_rate,
                    )
                ]
            else:
                discount = quantize(line.unit_price * Decimal("0.1"), invoice.currency)
                if discount <= 0:
                    return None
                lines = [
                    LineSpec(
                        f"Price correction: {line.description}",
                        line.quantity,
                        discount,
                        line.tax_rate,
                    )
                ]
        return CreditNoteSpec(invoice, credit_date, reason, lines)

    def _delay(self, customer: CustomerProfile) -> int:
        """Days after the due date the customer pays (negative: early)."""
        rnd = self.random
        behaviour = customer.behaviour
        if rnd.random() < 0.015 and behaviour != "slow":
            return rnd.randint(40, 120)  # forgotten until the final reminder
        if behaviour == "prompt":
            return rnd.randint(-6, 2)
        if behaviour in ("late", "stopped"):
            return round(rnd.triangular(8, 24, 15))
        if behaviour == "slow":
            return round(rnd.triangular(3, 40, 18))
        if rnd.random() < 0.45:
            return rnd.randint(-3, 10)
        return rnd.randint(15, 75)

    def _pays(self, customer: CustomerProfile, day: date) -> bool:
        return day <= self.today and not (
            customer.stop_date and day >= customer.stop_date
        )

    # --- events ----------------------------------------------------------------------
    def _credit(self, invoice, day, amount, credit_note=None) -> None:
        invoice.credits.append(PlannedCredit(day, amount))
        if credit_note is not None:
            self._event(day, credit_note)

    def _pay(self, customer, day, invoice, allocated, unapplied, in_run) -> None:
        if allocated:
            self._credit(invoice, day, allocated)
        self._event(day, PayEvent(customer, day, invoice, allocated, unapplied, in_run))

    def _event(self, day: date, event) -> None:
        index = (day.year - self.start.year) * 12 + day.month - self.start.month
        self._events[index].append(event)

    def month_events(self, index: int, chunk: MonthChunk) -> None:
        """This month's credit notes, payments and write-offs, in date order."""
        events = self._events.pop(index, [])
        chunk.credit_notes = sorted(
            (e for e in events if isinstance(e, CreditNoteSpec)),
            key=lambda e: (e.credit_date, e.invoice.id),
        )
        chunk.write_offs = sorted(
            (e for e in events if isinstance(e, WriteOffSpec)),
            key=lambda e: (e.write_off_date, e.invoice.id),
        )
        grouped: dict[tuple, list[PayEvent]] = {}
        pays = sorted(
            (e for e in events if isinstance(e, PayEvent)),
            key=lambda e: (e.received_date, e.customer.index, e.invoice.id),
        )
        for event in pays:
            payment = "run" if event.in_run else event.invoice.id
            key = (event.received_date, event.customer.index, payment)
            grouped.setdefault(key, []).append(event)
        chunk.payments = [self._payment(group) for group in grouped.values()]

    def _payment(self, events: list[PayEvent]) -> PaymentSpec:
        first = events[0]
        customer = first.customer
        matched = [e for e in events if e.allocated]
        amount = sum((e.allocated + e.unapplied for e in events), Decimal(0))
        if matched:
            reference = ", ".join(e.invoice.number for e in matched)[:200]
        else:
            reference = self.random.choice(
                [f"Customer {customer.number}", "Sammelzahlung", "Payment", ""]
            )
        return PaymentSpec(
            customer_id=customer.id,
            currency=customer.currency,
            received_date=first.received_date,
            amount=amount,
            method=self._method(customer),
            reference=reference,
            payer_name=customer.legal_name,
            allocations=[
                AllocationSpec(e.invoice, e.allocated, e.received_date) for e in matched
            ],
        )

    def _method(self, customer: CustomerProfile) -> str:
        draw = self.random.random()
        if customer.country == "US" and draw < 0.2:
            return Payment.Method.CHEQUE
        if customer.segment == "SMB" and customer.country == "DE" and draw < 0.25:
            return Payment.Method.DIRECT_DEBIT
        if customer.segment == "SMB" and draw < 0.3:
            return Payment.Method.CARD
        return Payment.Method.BANK_TRANSFER

    def contact_names(self, customer: CustomerProfile, count: int) -> list[str]:
        language = data.LANGUAGE[customer.country]
        language = language if language in ("de", "en", "ja") else "other"
        return [
            f"{self.random.choice(data.FIRST_NAMES[language])} "
            f"{self.random.choice(data.LAST_NAMES[language])}"
            for _ in range(count)
        ]


def _tax_note(country: str) -> str:
    if country in EU_VAT:
        return ""
    if country in ("AT", "NL", "FR", "IT", "ES"):
        return "Reverse charge: VAT to be accounted for by the recipient."
    return "Export delivery, exempt from German VAT."


def _weighted(rnd: random.Random, weights: dict):
    keys = list(weights)
    return rnd.choices(keys, weights=[weights[k] for k in keys])[0]


def _poisson(rnd: random.Random, mean: float) -> int:
    limit, count, product = math.exp(-mean), 0, rnd.random()
    while product > limit:
        count += 1
        product *= rnd.random()
    return count


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    return day.replace(year=day.year + month // 12, month=month % 12 + 1)


def slug(text: str) -> str:
    ascii_text = (
        unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    )
    return "-".join("".join(c if c.isalnum() else " " for c in ascii_text).split())
