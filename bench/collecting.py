"""Collections at scale: a dunning run over 100,000 overdue invoices of 20,000
customers, and the collector's queue page for a collector with 2,000 accounts.

A dunning run changes what it runs over (a step is issued once per invoice), so
this benchmark builds its own organization, ``bench-dunning``, afresh each time
with the bulk loader: 20,000 customers in ten collectors' books (2,000 each),
five overdue invoices each, due between 8 and 80 days ago, and a policy of five
email steps (+7, +21, +35, +50, +70 days). Every customer therefore gets exactly
one consolidated email at the highest step its invoices reached: 20,000 notices
listing 100,000 invoices.

The run is timed end to end: planning and writing notices and items (one
transaction), then the run's sending batches taken by two worker processes (as
two Celery worker processes would take them) that claim, render (text and HTML),
hand each message over SMTP to a local sink (aiosmtpd on 127.0.0.1, in a process
of its own) and record it sent; then the worklist rebuild. The steps do
not attach invoice PDFs: WeasyPrint takes about a tenth of a second per invoice,
which for 100,000 invoices is hours on two cores, whatever the dunning does; PDFs
are rendered (and measured) by the invoicing benchmark.

The preview of the same run ("what today's run would send", nothing written)
is timed before it, beside a raw SQL baseline that groups the same overdue
invoices by customer; the run's sending beside a baseline that hands the same
number of bare messages to the same sink with ``smtplib`` over one connection
per worker process.

Targets: the run under 60 s with two sending workers; the preview under 10 s;
the queue page under 150 ms (median).
"""

from __future__ import annotations

import multiprocessing
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from decimal import Decimal
from unittest import mock

from django.contrib.auth import get_user_model
from django.db import connection, connections, transaction
from django.test import Client

from collecting.models import Notice, WorklistEntry
from collecting.services.dunning import dunning_preview, dunning_run
from collecting.services.policies import policy_create
from collecting.services.worklist import worklist_rebuild
from collecting.tasks import send_notices
from demo.services import organization_delete
from invoicing.services.bulk import (
    BulkWriter,
    InvoiceLoader,
    InvoiceSpec,
    LineSpec,
    price_invoice,
    reserve_numbers,
)
from o2c import celery
from o2c.celery import app
from o2c.models import Membership, Organization, Role
from o2c.services import Actor
from o2c.tenancy import tenant_context
from orders.models import Contact, Customer
from orders.services.master import payment_term_create

ACTOR = Actor.system("bench")
SLUG = "bench-dunning"
CUSTOMERS = 20_000
INVOICES_PER_CUSTOMER = 5
COLLECTORS = 10
RUN_TARGET_SECONDS = 60
PREVIEW_TARGET_SECONDS = 10
PAGE_TARGET_MS = 150
STEP_OFFSETS = (7, 21, 35, 50, 70)
WORKERS = 2  # sending processes: one per core of the reference machine


# The sink runs in a process of its own, as a mail server would: in this process
# every SMTP round trip would wait for the interpreter lock to switch threads.
SINK_PROGRAM = """
import sys
from aiosmtpd.controller import Controller

class Counting:
    count = 0
    async def handle_DATA(self, server, session, envelope):
        Counting.count += 1
        return "250 OK"

controller = Controller(Counting(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
print(Counting.count, flush=True)
"""


class _Sink:
    """A local SMTP server in a child process that counts what it accepts."""

    def __init__(self):
        self.port = _free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-c", SINK_PROGRAM, str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("The SMTP sink did not start.")

    def stop(self) -> int:
        """Stop the sink; returns how many messages it accepted."""
        out, _ = self.process.communicate("", timeout=60)
        return int(out.strip() or 0)


def bench_collecting(
    org,
    report: dict,
    *,
    samples: int = 30,
    customers: int = CUSTOMERS,
    workers: int = WORKERS,
) -> dict:
    """Run the benchmark; ``org`` (the main bench organization) is left alone.

    Results go to ``report["collecting"]`` and are returned.
    """
    organization, collectors = _build(customers)
    preview = _timed_preview(organization)
    sink = _Sink()
    try:
        run = _timed_run(organization, sink.port, workers)
    finally:
        run_messages = sink.stop()
    run["messages_at_sink"] = run_messages
    run["messages_per_second"] = round(run_messages / run["seconds"], 1)
    baseline_sink = _Sink()
    try:
        run["baseline_smtp_seconds"] = _raw_smtp(
            baseline_sink.port, run["notices"], workers
        )
    finally:
        run["baseline_messages_at_sink"] = baseline_sink.stop()
    page = _queue_page(organization, collectors[0], samples)
    results = {"preview": preview, "dunning_run": run, "queue_page": page}
    report["collecting"] = results
    _print(results)
    return results


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _build(customers: int):
    existing = Organization.objects.filter(slug=SLUG).first()
    if existing is not None:
        organization_delete(organization=existing)
    organization = Organization.objects.create(
        name="Dunning bench", slug=SLUG, timezone="Europe/Berlin"
    )
    users = get_user_model().objects
    collectors = []
    for index in range(COLLECTORS):
        username = f"collector{index}@{SLUG}.example"
        user = users.filter(username=username).first() or users.create_user(
            username=username, email=username, password="bench-password-1"
        )
        Membership.objects.create(
            organization=organization, user=user, role=Role.COLLECTOR
        )
        collectors.append(user)
    started = time.monotonic()
    with tenant_context(organization), transaction.atomic():
        _seed(organization, collectors, customers)
        policy_create(
            actor=ACTOR,
            name="Bench",
            is_default=True,
            steps=[
                {
                    "name": f"Reminder {offset}",
                    "offset_days": offset,
                    "channel": "email",
                    "attach_invoices": False,
                    "subject": "Reminder: {{ total }} {{ currency }} overdue",
                    "body": (
                        "Dear {{ contact.name }},\n\n{{ invoices_table }}\n\n"
                        "Total overdue: {{ total }} {{ currency }}\n"
                        "{{ payment_instructions }}\n{{ organization.name }}"
                    ),
                }
                for offset in STEP_OFFSETS
            ],
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(f"{SLUG}: built in {time.monotonic() - started:.0f} s", flush=True)
    return organization, collectors


def _seed(organization, collectors, customers: int) -> None:
    today = organization.today()
    term = payment_term_create(name="Net 30", kind="net", days=30, actor=ACTOR)
    writer = BulkWriter()
    loader = InvoiceLoader(writer)
    numbers = reserve_numbers(name="customer", prefix="C", count=customers)
    specs = []
    for index, number in enumerate(numbers):
        customer_id = writer.new_id(Customer)
        writer.add(
            Customer,
            {
                "id": customer_id,
                "organization_id": organization.pk,
                "number": number,
                "name": f"Customer {index:05d}",
                "email": f"ap{index}@customer.example",
                "currency": "EUR",
                "payment_term_id": term.pk,
                "collector_id": collectors[index % COLLECTORS].pk,
                "segment": ("SMB", "Enterprise", "Public")[index % 3],
                "risk_class": ("low", "medium", "high")[index % 3],
            },
        )
        writer.add(
            Contact,
            {
                "id": writer.new_id(Contact),
                "organization_id": organization.pk,
                "customer_id": customer_id,
                "name": f"AP clerk {index}",
                "email": f"billing{index}@customer.example",
                "role": Contact.Role.BILLING,
                "is_primary": True,
            },
        )
        for invoice in range(INVOICES_PER_CUSTOMER):
            days_overdue = 8 + (index * 7 + invoice * 13) % 73
            specs.append(
                price_invoice(
                    InvoiceSpec(
                        customer_id=customer_id,
                        currency="EUR",
                        invoice_date=today - timedelta(days=days_overdue + 30),
                        term=term,
                        lines=[
                            LineSpec(
                                description="Services",
                                quantity=Decimal(1),
                                unit_price=Decimal(100 + (index + invoice) % 900),
                            )
                        ],
                    )
                )
            )
        if len(specs) >= 20_000:
            loader.add_invoices(specs)
            writer.flush()
            specs = []
    loader.add_invoices(specs)
    writer.flush()
    loader.finish()


def _timed_run(organization, smtp_port: int, workers: int) -> dict:
    """Plan and write the notices here; send them in ``workers`` processes, as
    that many Celery worker processes would take the run's batches."""
    batches: list[list[int]] = []

    def enqueue(name, *args, countdown=None, **kwargs):
        if name == "collecting.send_notices":
            batches.append(args[1])

    queued = mock.patch.object(celery, "enqueue", enqueue)
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        with tenant_context(organization), queued:
            started = time.monotonic()
            run = dunning_run()
            written = time.monotonic() - started
            # Forked workers must not share the parent's database connection.
            connections.close_all()
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(
                workers,
                mp_context=context,
                initializer=_worker_setup,
                initargs=(smtp_port,),
            ) as pool:
                counts = list(
                    pool.map(_send_batch, [organization.pk] * len(batches), batches)
                )
            worklist_rebuild()
            seconds = time.monotonic() - started
            notices = Notice.objects.filter(run=run)
            return {
                "seconds": round(seconds, 1),
                "planning_and_writing_seconds": round(written, 1),
                "sending_workers": workers,
                "target_seconds": RUN_TARGET_SECONDS,
                "met": seconds < RUN_TARGET_SECONDS,
                "notices": notices.count(),
                "notices_sent": notices.filter(status=Notice.Status.SENT).count(),
                "sent_by_workers": sum(c.get("sent", 0) for c in counts),
                "invoices_listed": run.invoices_noticed,
                "worklist_accounts": WorklistEntry.objects.count(),
            }
    finally:
        app.conf.task_always_eager = eager


def _timed_preview(organization) -> dict:
    with tenant_context(organization):
        started = time.monotonic()
        preview = dunning_preview(limit=100)
        seconds = time.monotonic() - started
        today = organization.today()
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT customer_id, currency, count(*), sum(open_amount),
                   max(%s - due_date)
            FROM invoicing_invoice
            WHERE organization_id = %s AND status IN ('open', 'partially_paid')
              AND open_amount > 0 AND due_date <= %s
            GROUP BY customer_id, currency
            """,
            [today, organization.pk, today - timedelta(days=min(STEP_OFFSETS))],
        )
        groups = len(cursor.fetchall())
    baseline = time.monotonic() - started
    return {
        "seconds": round(seconds, 2),
        "baseline_sql_seconds": round(baseline, 2),
        "notices": preview["notices_count"],
        "baseline_groups": groups,
        "target_seconds": PREVIEW_TARGET_SECONDS,
        "met": seconds < PREVIEW_TARGET_SECONDS,
    }


RAW_SMTP_PROGRAM = """
import smtplib, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
headers = "Subject: Reminder\\r\\nFrom: ar@bench.example\\r\\n\\r\\n"
body = (headers + ("x" * 70 + "\\r\\n") * 30).encode()
with smtplib.SMTP("127.0.0.1", port) as smtp:
    for index in range(count):
        smtp.sendmail("ar@bench.example", [f"billing{index}@customer.example"], body)
"""


def _raw_smtp(port: int, messages: int, workers: int) -> float:
    """Seconds for ``workers`` processes to hand ``messages`` bare messages to
    the sink: the floor of any sending."""
    started = time.monotonic()
    share = -(-messages // workers)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RAW_SMTP_PROGRAM, str(port), str(share)]
        )
        for _ in range(workers)
    ]
    for process in processes:
        process.wait(timeout=600)
    return round(time.monotonic() - started, 1)


def _worker_setup(smtp_port: int) -> None:
    from django.conf import settings

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_port
    settings.EMAIL_USE_TLS = False


def _send_batch(organization_id: int, notice_ids: list[int]) -> dict:
    # Called directly, the task runs here; webhook deliveries it enqueues run
    # eagerly too (the setting is inherited from the parent).
    return send_notices(organization_id, notice_ids)


def _queue_page(organization, collector, samples: int) -> dict:
    client = Client()
    client.force_login(collector)
    with tenant_context(organization):
        accounts = WorklistEntry.objects.filter(collector=collector).count()
    url = "/collections/my-day/"
    client.get(url)  # warm caches and connections
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
    median = statistics.median(timings)
    return {
        "collector_accounts": accounts,
        "median_ms": round(median, 1),
        "p95_ms": round(sorted(timings)[int(0.95 * (len(timings) - 1))], 1),
        "target_ms": PAGE_TARGET_MS,
        "met": median < PAGE_TARGET_MS,
    }


def _print(results: dict) -> None:
    preview = results["preview"]
    run, page = results["dunning_run"], results["queue_page"]
    print(
        f"dunning preview: {preview['notices']:,} notices in {preview['seconds']} s "
        f"(target < {preview['target_seconds']} s; raw SQL grouping the same "
        f"invoices: {preview['baseline_sql_seconds']} s)"
    )
    print(
        f"dunning run: {run['notices']:,} notices for {run['invoices_listed']:,} "
        f"invoices, {run['messages_at_sink']:,} messages at the sink in "
        f"{run['seconds']} s with {run['sending_workers']} sending workers "
        f"(target < {run['target_seconds']} s; planning and writing "
        f"{run['planning_and_writing_seconds']} s; bare smtplib, same count: "
        f"{run['baseline_smtp_seconds']} s)"
    )
    print(
        f"queue page: {page['collector_accounts']:,} accounts, median "
        f"{page['median_ms']} ms, p95 {page['p95_ms']} ms "
        f"(target < {page['target_ms']} ms)"
    )
