"""50 API clients at once against the real server, retrying with their keys.

``bench_load(organization, results, seconds=180, clients=50)``:

The app runs as in production — gunicorn (``--load-workers`` sync workers) on
127.0.0.1, a free port, the bench database — and each client, a thread with its
own API key and customer, loops until the time is up: create an invoice
(``POST /api/v1/invoices/``), issue it, record a payment allocated to it in
full, each request with its own ``Idempotency-Key``. A network error, a 5xx or a
429 makes the client send THE SAME request with THE SAME key again (after
``Retry-After`` on a 429, a short backoff otherwise; at most ``MAX_ATTEMPTS``).

Faults are injected so the retries mean something: every fifth client gives up
on a quarter of its first attempts right after sending (a 10 ms read timeout),
so the server does the work and the client, not knowing, sends it again — the
replay must return the first answer, never a second invoice or payment.

Afterwards the database is counted: invoices, issued invoices, payments and
allocations of the run's customers against the keys the clients saw succeed
(no duplicate, none lost), every invoice paid, no 5xx. Latency per operation
(p50/p95/p99) and throughput are printed beside the same loop run by one client
alone for a short while first (the baseline, same server, same run).

Without ``BENCH_REDIS_URL`` the server has no Redis: rate-limit counters are per
worker process and Celery tasks (webhooks, worklist refreshes) run inline in the
request; with it, like production, they are shared and queued (and the queue
this run filled is purged afterwards, there being no worker).
"""

from __future__ import annotations

import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import requests
from django.conf import settings
from django.db.models import Count, Q, Sum

from invoicing.models import Invoice
from o2c.keys import api_key_create, api_key_revoke
from o2c.models import IdempotencyRecord, Organization, OrganizationAPIKey, Role
from o2c.services import Actor
from o2c.tenancy import tenant_context
from orders.models import Customer, PaymentTerm
from orders.services.master import customer_create
from reconciliation.models import Allocation, Payment

ROOT = Path(__file__).resolve().parent.parent
MAX_ATTEMPTS = 8
TIMEOUT = 60.0  # seconds a client waits for an answer (queueing included)
FAULT_TIMEOUT = 0.01  # the "drop right after sending" read timeout
FAULTY_EVERY = 5  # every fifth client injects faults …
FAULT_SHARE = 0.25  # … on this share of its first attempts
OPERATIONS = ("create invoice", "issue invoice", "record payment")


@dataclass
class Tally:
    """What the clients saw; merged over threads under a lock."""

    latencies: dict = field(default_factory=lambda: defaultdict(list))
    statuses: Counter = field(default_factory=Counter)
    invoice_ids: set = field(default_factory=set)
    issued_ids: set = field(default_factory=set)
    payment_ids: set = field(default_factory=set)
    keys: Counter = field(default_factory=Counter)  # successful keys per operation
    replays: int = 0
    retries: int = 0
    dropped_on_purpose: int = 0
    network_errors: int = 0
    gave_up: int = 0
    refused: list = field(default_factory=list)
    flows: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def bench_load(
    organization: Organization,
    results: dict,
    *,
    seconds: int = 180,
    clients: int = 50,
    workers: int = 4,
    seed: int = 42,
) -> dict:
    run = time.strftime("%Y%m%d%H%M%S")
    print(f"\nLoad: {clients} API clients for {seconds}s (run {run})…", flush=True)
    with tenant_context(organization):
        accounts = _accounts(organization, run, clients)
    redis_url = os.environ.get("BENCH_REDIS_URL", "")
    server = Server(workers=workers, redis_url=redis_url)
    try:
        server.start()
        baseline_seconds = max(5, seconds // 9)
        baseline = _drive(
            server.url, accounts[:1], baseline_seconds, run=f"{run}-b", seed=seed
        )
        load = _drive(server.url, accounts, seconds, run=run, seed=seed, faults=True)
    finally:
        server.stop()
        with tenant_context(organization):
            _revoke(accounts)
        if redis_url:
            _purge_queue(redis_url)
    with tenant_context(organization):
        customers = [customer for customer, _key, _row in accounts]
        counted = _count(customers, run, load, baseline)
    figures = {
        "clients": clients,
        "seconds": seconds,
        "server_workers": workers,
        "redis": bool(redis_url),
        "baseline": _summary(baseline, baseline_seconds),
        "load": _summary(load, seconds),
        "database": counted,
    }
    # the verdict: nothing duplicated or lost, no 5xx, no request abandoned
    figures["ok"] = counted["ok"] and not any(
        tally["server_errors"] or tally["gave_up"]
        for tally in (figures["load"], figures["baseline"])
    )
    results["load"] = figures
    _print(figures)
    return figures


# --- set-up ------------------------------------------------------------------------


def _accounts(organization, run: str, clients: int) -> list:
    """One customer and one finance API key per client (and one for the
    baseline's client, the first)."""
    actor = Actor(label="bench load", role=Role.ADMIN)
    terms = PaymentTerm.objects.order_by("pk").first()
    accounts = []
    for number in range(clients):
        customer = customer_create(
            actor=actor,
            name=f"Load {run} client {number:02d}",
            currency=organization.base_currency,
            payment_term=terms,
        )
        row, key = api_key_create(
            name=f"load {run} {number:02d}",
            role=Role.FINANCE,
            expiry_date=None,
            actor=actor,
        )
        accounts.append((customer, key, row))
    return accounts


def _revoke(accounts) -> None:
    actor = Actor(label="bench load", role=Role.ADMIN)
    for _customer, _key, row in accounts:
        api_key_revoke(api_key=OrganizationAPIKey.objects.get(pk=row.pk), actor=actor)


class Server:
    """gunicorn on 127.0.0.1 with the bench's database, stopped by ``stop``."""

    def __init__(self, *, workers: int, redis_url: str):
        self.workers = workers
        self.redis_url = redis_url
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self) -> None:
        database = settings.DATABASES["default"]
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "o2c.settings.dev",
            "DATABASE_URL": os.environ["DATABASE_URL"],
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING",
            "REDIS_URL": self.redis_url,
            "CELERY_TASK_ALWAYS_EAGER": "false" if self.redis_url else "true",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        }
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.log = (ROOT / "bench" / "results" / "load-server.log").open("w")
        self.process = subprocess.Popen(
            [
                str(gunicorn),
                "o2c.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--timeout",
                "120",
                "--backlog",
                "256",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log.name}")
            try:
                requests.get(f"{self.url}/healthz", timeout=2)
                print(
                    f"Server: gunicorn, {self.workers} workers, {self.url}, "
                    f"database {database['NAME']}",
                    flush=True,
                )
                return
            except requests.RequestException:
                time.sleep(0.3)
        raise RuntimeError("gunicorn did not answer within 60 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            self.log.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _purge_queue(redis_url: str) -> None:
    from o2c.celery import app

    with app.connection_for_write(redis_url) as connection:
        purged = app.control.purge(connection=connection)
    print(f"Purged {purged} queued task(s) the run left (no worker).")


# --- the clients -------------------------------------------------------------------


def _drive(url, accounts, seconds, *, run, seed, faults=False) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=_client,
            args=(url, number, customer, key, deadline, tally, run),
            kwargs={
                "rng": random.Random(seed + number),
                "faulty": faults and number % FAULTY_EVERY == 0,
            },
            daemon=True,
        )
        for number, (customer, key, _row) in enumerate(accounts)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally


def _client(url, number, customer, key, deadline, tally, run, *, rng, faulty):
    session = requests.Session()
    session.headers["Authorization"] = f"Api-Key {key}"
    today = time.strftime("%Y-%m-%d")
    iteration = 0
    while time.monotonic() < deadline:
        iteration += 1
        prefix = f"{run}-{number:02d}-{iteration}"
        price = Decimal(rng.randint(100, 99_999)) / 100

        def call(operation, path, body, suffix, prefix=prefix):
            return _post(
                session,
                url + path,
                body,
                key=f"{prefix}-{suffix}",
                operation=operation,
                tally=tally,
                rng=rng,
                faulty=faulty,
            )

        invoice = call(
            "create invoice",
            "/api/v1/invoices/",
            {
                "customer": customer.pk,
                "invoice_date": today,
                "customer_reference": prefix,
                "lines": [
                    {"description": "Load", "quantity": "1", "unit_price": str(price)}
                ],
            },
            "create",
        )
        if invoice is None:
            continue
        issued = call(
            "issue invoice", f"/api/v1/invoices/{invoice['id']}/issue/", {}, "issue"
        )
        if issued is None:
            continue
        payment = call(
            "record payment",
            "/api/v1/payments/",
            {
                "customer": customer.pk,
                "amount": issued["total"],
                "currency": issued["currency"],
                "received_date": today,
                "reference": prefix,
                "allocations": [{"invoice": invoice["id"], "amount": issued["total"]}],
            },
            "pay",
        )
        with tally.lock:
            tally.invoice_ids.add(invoice["id"])
            tally.issued_ids.add(issued["id"])
            if payment is not None:
                tally.payment_ids.add(payment["id"])
                tally.flows += 1


def _post(session, url, body, *, key, operation, tally, rng, faulty):
    """POST with retries of the same request and key; the body on success."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        drop = faulty and attempt == 1 and rng.random() < FAULT_SHARE
        started = time.perf_counter()
        try:
            response = session.post(
                url,
                json=body,
                headers={"Idempotency-Key": key},
                timeout=(5, FAULT_TIMEOUT if drop else TIMEOUT),
            )
        except requests.RequestException:
            with tally.lock:
                if drop:
                    tally.dropped_on_purpose += 1
                else:
                    tally.network_errors += 1
                tally.retries += 1
            time.sleep(0 if drop else min(0.2 * 2**attempt, 5))
            continue
        elapsed = time.perf_counter() - started
        with tally.lock:
            tally.statuses[response.status_code] += 1
            tally.latencies[operation].append(elapsed)
            if response.headers.get("Idempotent-Replayed") == "true":
                tally.replays += 1
        if response.status_code < 400:
            with tally.lock:
                tally.keys[operation] += 1
            return response.json()
        if response.status_code == 429 or response.status_code >= 500:
            wait = float(response.headers.get("Retry-After") or 0.2 * 2**attempt)
            with tally.lock:
                tally.retries += 1
            time.sleep(min(wait, 30))
            continue
        with tally.lock:
            tally.refused.append((operation, response.status_code, response.text[:300]))
        return None
    with tally.lock:
        tally.gave_up += 1
    return None


# --- counting ----------------------------------------------------------------------


def _count(customers: list[Customer], run: str, *tallies: Tally) -> dict:
    """The database's own count of what the run wrote, beside what the clients
    saw succeed (both runs: the baseline's client is one of the customers)."""
    invoice_ids = set().union(*(t.invoice_ids for t in tallies))
    payment_ids = set().union(*(t.payment_ids for t in tallies))
    seen = Counter()
    for tally in tallies:
        seen.update(tally.keys)
    invoices = Invoice.objects.filter(customer__in=customers)
    payments = Payment.objects.filter(customer__in=customers)
    invoice_figures = invoices.aggregate(
        count=Count("id"),
        issued=Count("id", filter=~Q(status=Invoice.Status.DRAFT)),
        unpaid=Count("id", filter=~Q(open_amount=0)),
        total=Sum("total"),
    )
    allocations = Allocation.objects.filter(payment__in=payments)
    stored_invoice_ids = set(invoices.values_list("id", flat=True))
    stored_payment_ids = set(payments.values_list("id", flat=True))
    # Every key a client saw succeed has one stored answer; a key whose
    # request never succeeded (gave up) may still have one, so this is ≥.
    idempotency_records = IdempotencyRecord.objects.filter(
        key__startswith=f"{run}-", response_status__gt=0
    ).count()
    counted = {
        "invoices_in_database": invoice_figures["count"],
        "invoices_created_by_clients": seen["create invoice"],
        "invoices_issued_in_database": invoice_figures["issued"],
        "invoices_issued_by_clients": seen["issue invoice"],
        "payments_in_database": payments.count(),
        "payments_recorded_by_clients": seen["record payment"],
        "allocations_in_database": allocations.count(),
        "invoices_left_unpaid": invoice_figures["unpaid"],
        "lost_invoices": len(invoice_ids - stored_invoice_ids),
        "lost_payments": len(payment_ids - stored_payment_ids),
        "duplicate_invoices": len(stored_invoice_ids - invoice_ids),
        "duplicate_payments": len(stored_payment_ids - payment_ids),
        "invoiced_total": str(invoice_figures["total"] or 0),
        "paid_total": str(payments.aggregate(total=Sum("amount"))["total"] or 0),
        "idempotency_records_stored": idempotency_records,
        "keys_succeeded": sum(seen.values()),
    }
    counted["ok"] = (
        counted["invoices_in_database"] == counted["invoices_created_by_clients"]
        and counted["payments_in_database"] == counted["payments_recorded_by_clients"]
        and counted["allocations_in_database"] == counted["payments_in_database"]
        and counted["invoices_issued_in_database"]
        == counted["invoices_issued_by_clients"]
        and not counted["lost_invoices"]
        and not counted["lost_payments"]
        and not counted["duplicate_invoices"]
        and not counted["duplicate_payments"]
    )
    return counted


def _summary(tally: Tally, seconds: int) -> dict:
    requests_answered = sum(tally.statuses.values())
    return {
        "flows_completed": tally.flows,
        "flows_per_second": round(tally.flows / seconds, 2),
        "requests_answered": requests_answered,
        "requests_per_second": round(requests_answered / seconds, 1),
        "statuses": {str(code): n for code, n in sorted(tally.statuses.items())},
        "server_errors": sum(n for code, n in tally.statuses.items() if code >= 500),
        "rate_limited": tally.statuses.get(429, 0),
        "replayed": tally.replays,
        "retries": tally.retries,
        "dropped_on_purpose": tally.dropped_on_purpose,
        "network_errors": tally.network_errors,
        "gave_up": tally.gave_up,
        "refused": tally.refused[:10],
        "latency_ms": {
            operation: _percentiles(tally.latencies.get(operation, []))
            for operation in OPERATIONS
        },
    }


def _percentiles(samples: list[float]) -> dict:
    if len(samples) < 2:
        return {"n": len(samples)}
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "n": len(samples),
        "p50": round(cuts[49] * 1000, 1),
        "p95": round(cuts[94] * 1000, 1),
        "p99": round(cuts[98] * 1000, 1),
    }


def _print(figures: dict) -> None:
    load, baseline = figures["load"], figures["baseline"]
    print(
        f"\n{'Load (' + str(figures['clients']) + ' clients)':<34}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}   1 client: p50 / p95 ms"
    )
    for operation in OPERATIONS:
        mine = load["latency_ms"][operation]
        theirs = baseline["latency_ms"][operation]
        print(
            f"  {operation:<32}{mine.get('p50', '-'):>9}{mine.get('p95', '-'):>9}"
            f"{mine.get('p99', '-'):>9}   {theirs.get('p50', '-')} / "
            f"{theirs.get('p95', '-')}"
        )
    print(
        f"  flows (invoice, issue, payment): {load['flows_completed']} = "
        f"{load['flows_per_second']}/s (1 client: {baseline['flows_per_second']}/s); "
        f"requests {load['requests_per_second']}/s"
    )
    print(
        f"  statuses {load['statuses']}; 5xx {load['server_errors']}; "
        f"429 {load['rate_limited']}; retries {load['retries']} "
        f"(dropped on purpose {load['dropped_on_purpose']}, network errors "
        f"{load['network_errors']}); replayed {load['replayed']}; "
        f"gave up {load['gave_up']}"
    )
    counted = figures["database"]
    print(
        f"  database: invoices {counted['invoices_in_database']} "
        f"(clients saw {counted['invoices_created_by_clients']}), issued "
        f"{counted['invoices_issued_in_database']} "
        f"({counted['invoices_issued_by_clients']}), payments "
        f"{counted['payments_in_database']} "
        f"({counted['payments_recorded_by_clients']}), allocations "
        f"{counted['allocations_in_database']}; duplicates "
        f"{counted['duplicate_invoices'] + counted['duplicate_payments']}, lost "
        f"{counted['lost_invoices'] + counted['lost_payments']}, unpaid "
        f"{counted['invoices_left_unpaid']} → {'OK' if counted['ok'] else 'MISMATCH'}"
    )
    print(f"  verdict: {'OK' if figures['ok'] else 'FAILED'}")
    if load["refused"]:
        print(f"  refused (first): {load['refused'][:3]}")
