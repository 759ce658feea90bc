"""Seed a believable company (``seed_demo``), from a 30-customer test to a
50,000-customer, 2,000,000-invoice tenant.

Master data (organization, users, terms, catalog) goes through the ordinary
services; the history (customers, invoices, orders, payments, credit notes,
write-offs, FX rates) goes through the bulk loaders of ``invoicing`` and
``reconciliation``, one month per chunk, in one transaction: a failed seed leaves
nothing behind.
"""

from __future__ import annotations

import graphlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.db.models import Count, Q, Sum

from collecting.prediction.services import predictions_refresh
from collecting.services.worklist import worklist_rebuild
from demo import data
from demo.collections import CollectionHistory
from demo.history import CustomerProfile, History, MonthChunk, slug
from demo.portal import seed_portal
from demo.statements import seed_bank_statement
from invoicing.models import Invoice
from invoicing.services.bulk import BulkWriter, InvoiceLoader, reserve_numbers
from o2c.models import FxRate, Organization, Role
from o2c.money import quantize
from o2c.services import Actor, audit_record, membership_set, organization_create
from o2c.tenancy import TenantModel, tenant_context
from orders.models import (
    Contact,
    Customer,
    Fulfillment,
    FulfillmentLine,
    SalesOrder,
    SalesOrderLine,
)
from orders.services.master import item_create, payment_term_create
from reconciliation.models import Payment
from reconciliation.services.bulk import PaymentLoader
from reports.services import forecast_snapshots_backfill

ACTOR = Actor.system("seed_demo")
SEEDED = "demo_seeded"
# Invoices per customer and month the simulation produces on average; sizes a
# database for a wanted number of invoices.
INVOICES_PER_CUSTOMER_MONTH = 1.1
# Weeks of past forecasts reconstructed, enough for 13-week horizons to be scored.
FORECAST_HISTORY_WEEKS = 26


@dataclass
class SeedResult:
    organization: Organization
    logins: list[tuple[str, str]]
    #: (customer, link): the customer portal as these customers see it.
    portal_links: list[tuple[str, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    open_by_currency: dict[str, Decimal] = field(default_factory=dict)
    unapplied_by_currency: dict[str, Decimal] = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)  # model labels loaded
    seconds: float = 0.0

    @property
    def invoices_per_second(self) -> float:
        return self.counts.get("invoices", 0) / self.seconds if self.seconds else 0.0


def customers_for_invoices(invoices: int, months: int) -> int:
    return max(10, round(invoices / (months * INVOICES_PER_CUSTOMER_MONTH)))


def seed_demo(
    *,
    slug: str = "demo",
    name: str = data.COMPANY["name"],
    customers: int = 500,
    months: int = 18,
    seed: int = 42,
    reset: bool = False,
    collection_history: bool = True,
    analyze: bool = True,
    progress: Callable[[str], None] = lambda message: None,
) -> SeedResult | None:
    """Create the demo organization with its history; None if it already exists.

    ``collection_history`` adds the standard dunning policy and the collections
    replayed over the history (:mod:`demo.collections`), and yesterday's bank
    statement imported and matched (:mod:`demo.statements`); without it the
    company has no policy and no bank account (a benchmark of the loaders
    alone).

    ``analyze`` refreshes the planner's statistics of the tables loaded; a caller
    seeding many organizations in a row passes False and analyzes once at the
    end (each ANALYZE samples the whole table, however small the tenant)."""
    existing = Organization.objects.filter(slug=slug).first()
    if existing is not None and not reset:
        return None
    started = time.monotonic()
    with transaction.atomic():
        if existing is not None:
            progress(f"Deleting organization '{slug}' and all its data…")
            organization_delete(organization=existing)
        organization, _ = organization_create(
            name=name,
            slug=slug,
            base_currency="EUR",
            timezone="Europe/Berlin",
            admin_email=f"admin@{slug}.o2c",
            admin_password=data.PASSWORD,
            date_format=Organization.DateFormat.EUROPEAN,
            **{k: v for k, v in data.COMPANY.items() if k != "name"},
        )
        with tenant_context(organization):
            result = _Seeder(
                organization,
                customers=customers,
                months=months,
                seed=seed,
                collection_history=collection_history,
            ).run(progress)
            result.seconds = time.monotonic() - started
            audit_record(
                actor=ACTOR,
                obj=organization,
                action=SEEDED,
                data={
                    "customers": customers,
                    "months": months,
                    "seed": seed,
                    **result.counts,
                    "seconds": round(result.seconds, 1),
                    "invoices_per_second": round(result.invoices_per_second),
                },
            )
    if analyze and connection.vendor == "postgresql":
        tables = ", ".join(
            connection.ops.quote_name(apps.get_model(label)._meta.db_table)
            for label in result.tables
        )
        # Fresh statistics for the planner and, outside a transaction (VACUUM
        # cannot run in one), the visibility map that index-only scans read.
        command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
        with connection.cursor() as cursor:
            cursor.execute(f"{command} {tables}")
    return result


def organization_delete(*, organization: Organization) -> None:
    """Delete a tenant with every row it owns (demo and bench databases only).

    Tenant tables are emptied for this organization with one DELETE each, children
    first; going through the ORM's collector would load millions of rows.
    """
    tenant_models = [
        model
        for model in apps.get_models()
        if issubclass(model, TenantModel) and not model._meta.proxy
    ]
    graph = {
        model: {
            f.related_model
            for f in model._meta.concrete_fields
            if f.is_relation
            and f.related_model in tenant_models
            and f.related_model is not model
        }
        for model in tenant_models
    }
    order = list(graphlib.TopologicalSorter(graph).static_order())
    existing_tables = set(connection.introspection.table_names())
    tables = [
        connection.ops.quote_name(model._meta.db_table)
        for model in reversed(order)
        if model._meta.db_table in existing_tables  # else: not migrated here yet
    ]
    guarded = connection.vendor == "postgresql"
    # Row-level security lets this organization's rows through, and only them.
    with (
        tenant_context(organization),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        if guarded:  # no deferred checks pending when a table's triggers change
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table in tables:
            # The append-only guards (triggers refusing DELETE on the ledger) are
            # lifted for this transaction only: removing a whole tenant is the one
            # deletion they must allow.
            if guarded:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            cursor.execute(
                f"DELETE FROM {table} WHERE organization_id = %s", [organization.pk]
            )
            if guarded:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        organization.delete()


class _Seeder:
    def __init__(
        self, organization: Organization, *, customers, months, seed,
        collection_history,
    ):  # fmt: skip
        self.organization = organization
        self.customer_count, self.month_count, self.seed = customers, months, seed
        self.collection_history = collection_history
        self.today = organization.today()
        self.writer = BulkWriter()
        self.invoices = InvoiceLoader(self.writer)
        self.payments = PaymentLoader(self.invoices)

    def run(self, progress) -> SeedResult:
        logins, collectors = self._users()
        terms = {
            term_name: payment_term_create(
                name=term_name,
                kind=kind,
                days=days,
                instalments=instalments,
                discount_percent=Decimal(data.TERM_DISCOUNTS.get(term_name, (0, 0))[0]),
                discount_days=data.TERM_DISCOUNTS.get(term_name, (0, 0))[1],
                actor=ACTOR,
            )
            for term_name, kind, days, instalments in data.TERMS
        }
        items = [
            item_create(
                sku=sku,
                name=item_name,
                unit_price=Decimal(price),
                currency="EUR",
                tax_rate=Decimal(rate),
                actor=ACTOR,
            )
            for sku, item_name, price, rate in data.CATALOG
        ]
        history = History(
            seed=self.seed,
            customers=self.customer_count,
            months=self.month_count,
            today=self.today,
            terms=terms,
            items=items,
        )
        self._fx_rates(history.start)
        self._customers(history, collectors)
        self.writer.flush()
        progress(
            f"{self.organization.name}: {self.customer_count:,} customers, "
            f"{self.month_count} months to {self.today.isoformat()} (seed {self.seed})"
        )
        started, invoices = time.monotonic(), 0
        for index, first_day in enumerate(history.months):
            chunk = history.month_invoices(index)
            self._orders(chunk, history.random)
            self.invoices.add_invoices(chunk.invoices)
            history.month_events(index, chunk)
            self.invoices.add_credit_notes(chunk.credit_notes)
            self.payments.add_payments(chunk.payments)
            self.payments.add_write_offs(chunk.write_offs)
            self.writer.flush()
            invoices += len(chunk.invoices)
            rate = invoices / max(time.monotonic() - started, 1e-6)
            progress(
                f"  {first_day:%Y-%m}: {len(chunk.invoices):>7,} invoices "
                f"{len(chunk.payments):>7,} payments {len(chunk.credit_notes):>5,} "
                f"credit notes | {invoices:,} invoices, {rate:,.0f}/s"
            )
        self._open_orders(history)
        self.writer.flush()
        self.invoices.finish()
        collections, portal_links = {}, []
        if self.collection_history:
            collections = CollectionHistory(
                self.organization, seed=self.seed, start=history.start
            ).run(progress)
            collections |= seed_bank_statement(seed=self.seed, today=self.today)
            progress(
                f"  bank statement of yesterday: {collections['statement lines']} "
                f"lines, {collections['matched automatically']} matched "
                f"automatically, {collections['lines to review']} to review"
            )
            portal_links = seed_portal(seed=self.seed, today=self.today)
            # Before the worklist: a collector's score weighs the prediction.
            self._predictions(progress)
        # The bulk load sends no signals; build the collectors' queue as the daily
        # run would, so "My day" is full from the first login.
        accounts = worklist_rebuild(today=self.today)
        progress(f"  collectors' worklist: {accounts:,} accounts with overdue items")
        result = SeedResult(
            organization=self.organization, logins=logins, portal_links=portal_links
        )
        result.counts = self._counts() | collections
        result.tables = sorted(self.writer.inserted)
        result.open_by_currency = self._open_by_currency()
        result.unapplied_by_currency = self._unapplied_by_currency()
        return result

    def _predictions(self, progress) -> None:
        """Score the open invoices as the nightly run would, and reconstruct
        the past weeks' forecasts so the accuracy page has weeks to score."""
        record = predictions_refresh(today=self.today)
        progress(
            f"  payment prediction: {record.get_kind_display().lower()} serves "
            f"({record.get_reason_display().lower()}), "
            f"{record.predictions_count:,} open invoices scored"
        )
        backfill = forecast_snapshots_backfill(
            weeks=FORECAST_HISTORY_WEEKS, today=self.today
        )
        progress(
            f"  cash forecasts of the past {len(backfill.mondays)} Mondays "
            f"reconstructed ({backfill.rows:,} weeks)"
        )

    # --- people -----------------------------------------------------------------------
    def _users(self):
        """Admin, finance, viewer and collectors, all with the demo password."""
        slug_ = self.organization.slug
        password = make_password(data.PASSWORD)  # hashed once: hashing is slow
        collector_count = max(3, min(len(data.COLLECTORS), self.customer_count // 125))
        people = [
            (f"admin@{slug_}.o2c", "Katrin", "Vogel", Role.ADMIN),
            (f"finance@{slug_}.o2c", "Felix", "Braun", Role.FINANCE),
            (f"viewer@{slug_}.o2c", "Vera", "Lindner", Role.VIEWER),
        ] + [
            (f"{slug(first)}.{slug(last)}@{slug_}.o2c", first, last, Role.COLLECTOR)
            for first, last in data.COLLECTORS[:collector_count]
        ]
        users = get_user_model().objects
        logins, collectors = [], []
        for email, first, last, role in people:
            user = users.filter(username=email).first() or users.model(username=email)
            user.email, user.first_name, user.last_name = email, first, last
            user.password = password
            user.save()
            membership_set(organization=self.organization, user=user, role=role)
            logins.append((email, role))
            if role == Role.COLLECTOR:
                collectors.append(user)
        return logins, collectors

    # --- master data in bulk ----------------------------------------------------------
    def _fx_rates(self, start: date) -> None:
        rnd = random.Random(self.seed + 1)
        rates = dict(data.FX_START)
        day = start
        while day <= self.today:
            if day.weekday() < 5:
                for currency in rates:
                    rates[currency] *= 1 + rnd.gauss(0, 0.004)
                    self.writer.add(
                        FxRate,
                        {
                            "id": self.writer.new_id(FxRate),
                            "organization_id": self.organization.pk,
                            "currency": currency,
                            "date": day,
                            "rate": Decimal(f"{rates[currency]:.8f}"),
                        },
                    )
            day += timedelta(days=1)

    def _customers(self, history: History, collectors) -> None:
        rnd, org_id = history.random, self.organization.pk
        numbers = reserve_numbers(
            name="customer", prefix="C", count=len(history.customers)
        )
        for profile, number in zip(history.customers, numbers, strict=True):
            profile.id, profile.number = self.writer.new_id(Customer), number
            on_hold = bool(profile.hold_date and profile.hold_date <= self.today) or (
                profile.risk_class == Customer.Risk.HIGH and rnd.random() < 0.03
            )
            domain = f"{slug(profile.name)[:40]}.example"
            street = rnd.choice(data.STREETS[profile.country])
            postcode = dict(data.CITIES[profile.country])[profile.city]
            self.writer.add(
                Customer,
                {
                    "id": profile.id,
                    "organization_id": org_id,
                    "number": number,
                    "name": profile.name,
                    "legal_name": profile.legal_name,
                    "email": f"accounts.payable@{domain}",
                    "phone": _phone(rnd, profile.country),
                    "address": f"{street} {rnd.randint(1, 180)}\n"
                    f"{postcode} {profile.city}",
                    "country": profile.country,
                    "tax_id": _tax_id(rnd, profile.country),
                    "language": data.LANGUAGE[profile.country],
                    "currency": profile.currency,
                    "payment_term_id": profile.term.pk,
                    "credit_limit": self._credit_limit(rnd, profile),
                    "on_credit_hold": on_hold,
                    "collector_id": (
                        collectors[profile.index % len(collectors)].pk
                        if rnd.random() > 0.03
                        else None
                    ),
                    "segment": profile.segment,
                    "risk_class": profile.risk_class,
                    "do_not_contact": rnd.random() < 0.01,
                    "external_id": "",
                },
            )
            self._contacts(history, profile, domain)

    def _contacts(self, history: History, profile: CustomerProfile, domain: str):
        roles = [Contact.Role.BILLING, Contact.Role.AP_CLERK]
        if profile.segment in ("enterprise", "public sector"):
            roles.append(Contact.Role.DECISION_MAKER)
        for role, person in zip(
            roles, history.contact_names(profile, len(roles)), strict=True
        ):
            self.writer.add(
                Contact,
                {
                    "id": self.writer.new_id(Contact),
                    "organization_id": self.organization.pk,
                    "customer_id": profile.id,
                    "name": person,
                    "email": f"{slug(person).replace('-', '.')}@{domain}",
                    "phone": _phone(history.random, profile.country),
                    "role": role,
                    "is_primary": role == Contact.Role.BILLING,
                },
            )

    def _credit_limit(self, rnd, profile: CustomerProfile) -> Decimal | None:
        if profile.segment == "public sector":
            return None
        segment = data.SEGMENTS[profile.segment]
        basket = (
            _MEAN_PRICE
            * Decimal(sum(segment["quantity"]) / 2)
            * Decimal(sum(segment["lines"]) / 2)
        )
        term = profile.term
        term_days = {"net": term.days, "end_of_month": term.days + 15}.get(
            term.kind, 90
        )
        exposure = basket * Decimal(profile.rate) * Decimal((term_days + 45) / 30)
        exposure *= Decimal(rnd.choice(["0.6", "1.2", "1.5", "2"]))
        step = Decimal(1000) * data.PRICE_FACTOR[profile.currency]
        exposure *= data.PRICE_FACTOR[profile.currency]
        return quantize(
            max(step, (exposure / step).to_integral_value() * step), profile.currency
        )

    # --- sales orders -----------------------------------------------------------------
    def _orders(self, chunk: MonthChunk, rnd: random.Random) -> None:
        """Orders and deliveries behind this month's order-based invoices."""
        if not chunk.ordered:
            return
        order_numbers = reserve_numbers(
            name="sales_order", prefix="SO-", count=len(chunk.ordered)
        )
        shipment_numbers = reserve_numbers(
            name="fulfillment", prefix="SH-", count=len(chunk.ordered)
        )
        for (invoice, customer), order_number, shipment_number in zip(
            chunk.ordered, order_numbers, shipment_numbers, strict=True
        ):
            order_date = invoice.invoice_date - timedelta(days=rnd.randint(2, 8))
            shipped = max(
                order_date, invoice.invoice_date - timedelta(days=rnd.randint(0, 2))
            )
            invoice.customer_reference = invoice.customer_reference or (
                f"PO-{rnd.randint(10000, 99999)}"
            )
            order_id = self._order(
                customer,
                order_number,
                order_date,
                invoice.customer_reference,
                SalesOrder.Status.INVOICED,
            )
            invoice.sales_order_id = order_id
            shipped_lines = []
            for position, line in enumerate(invoice.lines, 1):
                line.order_line_id = self._order_line(
                    order_id, position, line, line.quantity, line.quantity
                )
                shipped_lines.append((line.order_line_id, line.quantity))
            self._fulfillment(
                order_id,
                shipment_number,
                shipped,
                Fulfillment.Status.DELIVERED,
                shipped_lines,
                rnd,
            )

    def _open_orders(self, history: History) -> None:
        """Orders still in the pipeline: confirmed, partly shipped, awaiting invoice."""
        rnd, today = history.random, self.today
        candidates = [
            c
            for c in history.customers
            if c.last_month == len(history.months) - 1
            and not (c.hold_date and c.hold_date <= today)
            and c.segment != "public sector"
        ]
        count = min(len(candidates), max(5, self.customer_count // 50))
        chosen = rnd.sample(candidates, count)
        order_numbers = reserve_numbers(name="sales_order", prefix="SO-", count=count)
        for customer, number in zip(chosen, order_numbers, strict=True):
            status = rnd.choice(
                [
                    SalesOrder.Status.CONFIRMED,
                    SalesOrder.Status.PARTIALLY_FULFILLED,
                    SalesOrder.Status.FULFILLED,
                ]
            )
            order_date = today - timedelta(days=rnd.randint(0, 12))
            order_id = self._order(
                customer, number, order_date, f"PO-{rnd.randint(10000, 99999)}", status
            )
            lines = [
                history.line(customer, item, rnd.randint(2, 20))
                for item in rnd.sample(history.items, rnd.randint(1, 4))
            ]
            shipped = []
            for position, line in enumerate(lines, 1):
                ship = line.quantity
                if status == SalesOrder.Status.CONFIRMED:
                    ship = Decimal(0)
                elif status == SalesOrder.Status.PARTIALLY_FULFILLED and position == 1:
                    ship = (line.quantity / 2).to_integral_value()
                order_line_id = self._order_line(order_id, position, line, ship, 0)
                if ship:
                    shipped.append((order_line_id, ship))
            if shipped:
                (shipment_number,) = reserve_numbers(
                    name="fulfillment", prefix="SH-", count=1
                )
                self._fulfillment(
                    order_id,
                    shipment_number,
                    max(order_date, today - timedelta(days=rnd.randint(0, 3))),
                    Fulfillment.Status.SHIPPED,
                    shipped,
                    rnd,
                )

    def _order(self, customer, number, order_date, reference, status) -> int:
        order_id = self.writer.new_id(SalesOrder)
        self.writer.add(
            SalesOrder,
            {
                "id": order_id,
                "organization_id": self.organization.pk,
                "number": number,
                "customer_id": customer.id,
                "currency": customer.currency,
                "order_date": order_date,
                "customer_reference": reference,
                "status": status,
            },
        )
        return order_id

    def _order_line(self, order_id, position, line, fulfilled, invoiced) -> int:
        line_id = self.writer.new_id(SalesOrderLine)
        self.writer.add(
            SalesOrderLine,
            {
                "id": line_id,
                "organization_id": self.organization.pk,
                "order_id": order_id,
                "position": position,
                "item_id": line.item_id,
                "description": line.description,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "tax_rate": line.tax_rate,
                "quantity_fulfilled": Decimal(fulfilled),
                "quantity_invoiced": Decimal(invoiced),
            },
        )
        return line_id

    def _fulfillment(self, order_id, number, shipped_date, status, lines, rnd):
        fulfillment_id = self.writer.new_id(Fulfillment)
        self.writer.add(
            Fulfillment,
            {
                "id": fulfillment_id,
                "organization_id": self.organization.pk,
                "number": number,
                "order_id": order_id,
                "status": status,
                "shipped_date": shipped_date,
                "carrier": rnd.choice(data.CARRIERS),
                "tracking_number": f"{rnd.randint(10**11, 10**12 - 1)}",
            },
        )
        for order_line_id, quantity in lines:
            self.writer.add(
                FulfillmentLine,
                {
                    "id": self.writer.new_id(FulfillmentLine),
                    "organization_id": self.organization.pk,
                    "fulfillment_id": fulfillment_id,
                    "order_line_id": order_line_id,
                    "quantity": quantity,
                },
            )

    # --- summary ----------------------------------------------------------------------
    def _counts(self) -> dict[str, int]:
        inserted = self.writer.inserted
        invoices = Invoice.objects.aggregate(
            overdue=Count(
                "pk",
                filter=Q(
                    status__in=(Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID),
                    due_date__lt=self.today,
                ),
            )
        )
        return {
            "customers": inserted["orders.Customer"],
            "invoices": inserted["invoicing.Invoice"],
            "overdue_invoices": invoices["overdue"],
            "credit_notes": inserted["invoicing.CreditNote"],
            "payments": inserted["reconciliation.Payment"],
            "allocations": inserted["reconciliation.Allocation"],
            "write_offs": inserted["reconciliation.WriteOff"],
            "sales_orders": inserted["orders.SalesOrder"],
            "ledger_entries": inserted["invoicing.LedgerEntry"],
        }

    def _open_by_currency(self) -> dict[str, Decimal]:
        rows = (
            Invoice.objects.filter(
                status__in=(Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID)
            )
            .values("currency")
            .annotate(total=Sum("open_amount"))
        )
        return _by_currency(rows)

    def _unapplied_by_currency(self) -> dict[str, Decimal]:
        rows = (
            Payment.objects.filter(unapplied_amount__gt=0)
            .values("currency")
            .annotate(total=Sum("unapplied_amount"))
        )
        return _by_currency(rows)


def _by_currency(rows) -> dict[str, Decimal]:
    # SQLite sums decimals as floats: round back to each currency's minor unit.
    return {
        row["currency"]: quantize(row["total"], row["currency"])
        for row in sorted(rows, key=lambda row: row["currency"])
    }


_GOODS = [
    Decimal(price) for sku, _, price, _ in data.CATALOG if sku not in data.SERVICE_SKUS
]
# Mean value of one unit of "quantity" (see History.line: dear items sell fewer).
_MEAN_PRICE = sum(min(p, data.UNIT_BUDGET) for p in _GOODS) / len(_GOODS)


def _phone(rnd: random.Random, country: str) -> str:
    prefix = data.PHONE_PREFIX[country]
    return f"{prefix} {rnd.randint(20, 99)} {rnd.randint(1000000, 9999999)}"


def _tax_id(rnd: random.Random, country: str) -> str:
    if country == "US":
        return f"{rnd.randint(10, 99)}-{rnd.randint(1000000, 9999999)}"
    if country == "JP":
        return f"T{rnd.randint(10**12, 10**13 - 1)}"
    return f"{country}{rnd.randint(10**8, 10**9 - 1)}"
