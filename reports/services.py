"""Writes of the reports app: the stored month-end figures, export jobs, statement
emails and bucket settings. Reports never write the ledger or business rows.

Exports
    :func:`export_job_create` stores the request as a :class:`~o2c.models.Job`
    (kind ``export_<report>``) and enqueues ``reports.run_export`` on commit; the
    task calls :func:`export_run`, which claims the job (``queued → running``; a
    second run finds it claimed and does nothing), writes the file chunk by chunk
    with progress and attaches it to the job for download. A small export is
    written straight into the response by :func:`export_write` instead.

Statement emails
    :func:`statement_email_request` writes a ``StatementDelivery`` row first and
    enqueues ``reports.send_statement`` on commit; :func:`statement_email_send`
    claims the row (``pending → sending``) under a row lock, sends, and records
    ``sent`` or ``failed``. A row left ``sending`` is for a person to check,
    never resent automatically.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from email.utils import make_msgid
from functools import partial

from django.conf import settings
from django.core.files import File
from django.core.mail import EmailMessage
from django.db import OperationalError, connection, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.text import get_valid_filename
from django.utils.translation import gettext

from invoicing.models import LedgerEntry, PortalAccess
from invoicing.portal import portal_link_issue
from invoicing.services.ledger import ledger_settled_id
from o2c import celery
from o2c.document_language import speaking
from o2c.errors import DomainError
from o2c.jobs import job_claim, job_enqueue_on_commit
from o2c.models import Job, Role
from o2c.replica import report_reads
from o2c.rows import insert_rows
from o2c.services import Actor, audit_record, transition
from o2c.tenancy import current_organization
from orders.models import Contact, Customer
from reports import exports
from reports.documents import aging_pdf, statement_pdf
from reports.models import (
    AgingBucketSet,
    ForecastSnapshot,
    LedgerAttribution,
    LedgerCompaction,
    LedgerMonthTotal,
    MetricsSnapshot,
    MonthEndFigure,
    PaymentProfile,
    StatementDelivery,
)
from reports.selectors.aging import parse_boundaries
from reports.selectors.common import add_months
from reports.selectors.forecast import MIN_PAID_INVOICES, cash_forecast
from reports.selectors.history import (
    behaviour_aggregates,
    behaviour_from,
    settled_invoices,
    statement,
)
from reports.selectors.metrics import (
    LOOKBACK_MONTHS,
    MONTH_TOTAL_COLUMNS,
    compaction_groups,
    last_closed_month,
    ledger_month_sums,
)
from reports.selectors.snapshot import (
    STORED_MONTHS,
    profiles_are_old,
    snapshot_is_stale,
)

logger = logging.getLogger(__name__)

PROFILE_DAYS = 365
# Rows an export may have to be written inside the request; more go to a job.
DIRECT_EXPORT_ROWS = 5000


# --- month-end figures and payment profiles ------------------------------------


def metrics_refresh(*, force: bool = False) -> MetricsSnapshot:
    """Rebuild the month-end figures if the ledger has changed behind them, and
    the payment profiles if they are from an earlier day (both with ``force``).

    The snapshot row is locked for the rebuild, so two workers asked at once
    rebuild once: the second finds it fresh. The figures' mark is the settled
    line (``ledger_settled_id``), drawn before the transaction: the largest id
    seen could have an entry still uncommitted below it, which would then never
    make them stale. (Without a line, the mark is 0: stale at once, rebuilt at
    the next refresh.)
    """
    high_water = ledger_settled_id() or 0
    with transaction.atomic():
        return _metrics_refresh(force=force, high_water=high_water)


def _metrics_refresh(*, force: bool, high_water: int) -> MetricsSnapshot:
    organization = current_organization()
    started = time.monotonic()
    through = last_closed_month()
    first = add_months(through, -(STORED_MONTHS + LOOKBACK_MONTHS - 1))
    snapshot, created = MetricsSnapshot.objects.get_or_create(
        organization=organization,
        defaults={
            "first_month": first,
            "through_month": through,
            "computed_at": timezone.now(),
        },
    )
    snapshot = MetricsSnapshot.objects.select_for_update().get(pk=snapshot.pk)
    if created or force or snapshot_is_stale(snapshot):
        _refresh_figures(snapshot, first=first, through=through, high_water=high_water)
        snapshot.seconds = time.monotonic() - started
    if force or profiles_are_old(snapshot):
        _refresh_payment_profiles(organization)
        snapshot.profiles_computed_on = organization.today()
    snapshot.save()
    return snapshot


# Entries posted since the last compaction above which an unforced refresh
# compacts again: the metrics group the entries since then on every read.
COMPACT_AFTER_ENTRIES = 20_000


def ledger_compact(*, force: bool = False) -> LedgerCompaction | None:
    """Fold the ledger's entries on invoices up to the settled line
    (``ledger_settled_id``) into ``LedgerMonthTotal``, each customer's under its
    collector and segment now (written down in ``LedgerAttribution``), so that
    the metrics group only the entries posted since.

    Unless ``force``, only when ``COMPACT_AFTER_ENTRIES`` entries have been
    posted since the last time. The rows are rebuilt whole in one transaction
    that reads the customers and the entries as of one moment (REPEATABLE READ
    on PostgreSQL; SQLite's transactions are serializable); a second compaction
    running at once finds the row locked and gives way. Call it outside a
    transaction: the settled line is drawn in a transaction of its own first.
    Returns the compaction, or None when none could be made now.
    """
    organization = current_organization()
    compaction = LedgerCompaction.objects.first()
    if not force and compaction is not None:
        since = LedgerEntry.objects.filter(pk__gt=compaction.through_entry)
        if since[:COMPACT_AFTER_ENTRIES].count() < COMPACT_AFTER_ENTRIES:
            return compaction
    through = ledger_settled_id()
    if through is None:
        logger.info("ledger_compact: entries kept being appended; later")
        return compaction
    if compaction is None:
        compaction, _ = LedgerCompaction.objects.get_or_create(
            organization=organization, defaults={"computed_at": timezone.now()}
        )
    started = time.monotonic()
    outermost = not transaction.get_connection().in_atomic_block
    try:
        with transaction.atomic():
            if outermost and connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            compaction = LedgerCompaction.objects.select_for_update(nowait=True).get(
                pk=compaction.pk
            )
            if compaction.through_entry >= through and not force:
                return compaction
            LedgerAttribution.objects.all().delete()
            LedgerMonthTotal.objects.all().delete()
            insert_rows(
                LedgerAttribution,
                [
                    {
                        "organization_id": organization.pk,
                        "customer_id": pk,
                        "collector_id": collector,
                        "segment": segment,
                    }
                    for pk, collector, segment in Customer.objects.values_list(
                        "pk", "collector_id", "segment"
                    )
                ],
            )
            insert_rows(
                LedgerMonthTotal,
                [
                    dict(
                        zip(MONTH_TOTAL_COLUMNS, (*key, movement, sales), strict=True),
                        organization_id=organization.pk,
                    )
                    for key, movement, sales in compaction_groups(through)
                ],
            )
            compaction.through_entry = through
            compaction.computed_at = timezone.now()
            compaction.seconds = time.monotonic() - started
            compaction.save()
    except OperationalError:  # locked by another compaction, or serialization
        logger.info("ledger_compact: another compaction is running")
        return None
    return compaction


def _refresh_figures(
    snapshot: MetricsSnapshot, *, first, through, high_water: int
) -> None:
    organization = snapshot.organization
    sums = ledger_month_sums(first_month=first, last_month=through)
    MonthEndFigure.objects.filter(snapshot=snapshot).delete()
    MonthEndFigure.objects.bulk_create(
        (
            MonthEndFigure(
                organization=organization,
                snapshot=snapshot,
                month=month,
                scope=scope,
                key=key,
                currency=currency,
                receivables=figures.receivables,
                current_receivables=figures.current_receivables,
                credit_sales=figures.credit_sales,
            )
            for (scope, key, currency), by_month in sums.items()
            for month, figures in by_month.items()
            if figures.receivables
            or figures.credit_sales
            or figures.current_receivables
        ),
        batch_size=2000,
    )
    snapshot.first_month, snapshot.through_month = first, through
    snapshot.ledger_high_water = high_water
    snapshot.computed_at = timezone.now()


def _refresh_payment_profiles(organization) -> None:
    today = organization.today()
    rows = (
        settled_invoices()
        .filter(
            settled_date__gt=today - timedelta(days=PROFILE_DAYS),
            settled_date__lte=today,
        )
        .values("customer_id")
        .annotate(**behaviour_aggregates())
        .order_by()
    )
    PaymentProfile.objects.all().delete()
    profiles = []
    for row in rows.iterator(chunk_size=5000):
        behaviour = behaviour_from(row)
        profiles.append(
            PaymentProfile(
                organization=organization,
                customer_id=row["customer_id"],
                paid_invoices=behaviour.paid_invoices,
                average_days_to_pay=behaviour.average_days_to_pay,
                average_days_late=behaviour.average_days_late,
                on_time_share=behaviour.on_time_share,
                expected_delay_days=round(behaviour.average_days_late)
                if behaviour.paid_invoices >= MIN_PAID_INVOICES
                else None,
                computed_on=today,
            )
        )
        if len(profiles) >= 5000:
            PaymentProfile.objects.bulk_create(profiles)
            profiles = []
    PaymentProfile.objects.bulk_create(profiles)


# --- bucket sets ------------------------------------------------------------------


@transaction.atomic
def bucket_set_save(
    *, name: str, boundaries, make_default: bool, actor: Actor
) -> AgingBucketSet:
    """Create or change a named bucket set; optionally the organization's default."""
    name = (name or "").strip()
    if not name:
        raise DomainError(
            "required", translation.gettext("Give the bucket set a name."), field="name"
        )
    values = parse_boundaries(boundaries, field="boundaries")
    organization = current_organization()
    if make_default:
        AgingBucketSet.objects.filter(is_default=True).exclude(name=name).update(
            is_default=False
        )
    bucket_set, created = AgingBucketSet.objects.update_or_create(
        organization=organization,
        name=name[:60],
        defaults={"boundaries": values, "is_default": make_default},
    )
    audit_record(
        actor=actor,
        obj=bucket_set,
        action="created" if created else "changed",
        data={"boundaries": values, "default": make_default},
    )
    return bucket_set


# --- exports ----------------------------------------------------------------------


def export_write(
    spec: exports.ExportSpec, stream, *, progress=lambda rows: None
) -> int:
    """Write ``spec``'s file to the binary ``stream``; returns its rows."""
    if spec.format != "pdf":
        # CSV and XLSX files are data for other tools: in English like the API,
        # whether a page writes them at once or the worker does.
        with translation.override("en"):
            return exports.write_table(spec, stream, progress=progress)
    p = spec.parameters
    stream.write(
        aging_pdf(
            as_of=date.fromisoformat(p["as_of"]),
            boundaries=p["buckets"],
            group_by=p["group_by"],
            filters=exports.aging_filters(p),
            in_base=p.get("in_base", False),
        )
    )
    return 0


def export_needs_job(spec: exports.ExportSpec) -> bool:
    return exports.row_count(spec) > DIRECT_EXPORT_ROWS


@transaction.atomic
def export_job_create(*, spec: exports.ExportSpec, actor: Actor) -> Job:
    """Queue an export; the worker writes it and the job page offers the file."""
    organization = current_organization()
    job = Job.objects.create(
        organization=organization,
        kind=spec.job_kind,
        created_by=actor.user if getattr(actor.user, "pk", None) else None,
        parameters={
            "format": spec.format,
            "report": spec.parameters,
            "requested_by": actor.label,
        },
    )
    audit_record(
        actor=actor,
        obj=job,
        action="export_requested",
        to_status=job.status,
        data={"kind": spec.kind, "format": spec.format},
    )
    job_enqueue_on_commit(job)
    return job


def export_spec_of(job: Job) -> exports.ExportSpec:
    return exports.ExportSpec(
        kind=job.kind.removeprefix("export_"),
        format=job.parameters["format"],
        parameters=job.parameters["report"],
    )


def _export_actor(job: Job) -> Actor:
    return Actor(label=job.parameters.get("requested_by", "export"), role=Role.VIEWER)


def export_run(*, job_id: int) -> Job | None:
    """Run a queued export once; a job already claimed is left alone."""
    job = job_claim(job_id, kinds=Q(kind__startswith="export_"), actor_of=_export_actor)
    if job is None:
        return None
    actor = _export_actor(job)
    spec = export_spec_of(job)
    try:
        # The figures come from the reports replica when one is configured; the
        # job's own row (progress, result) is always written to the primary.
        with report_reads():
            total = exports.row_count(spec)
        Job.objects.filter(pk=job.pk).update(total=total)

        def progress(rows: int) -> None:
            Job.objects.filter(pk=job.pk).update(progress=rows, total=max(total, rows))

        with tempfile.TemporaryFile() as stream:
            with report_reads():
                rows = export_write(spec, stream, progress=progress)
            stream.seek(0)
            filename = spec.filename(current_organization().today())
            job.output_file.save(
                f"{job.organization_id}/{job.pk}-{get_valid_filename(filename)}",
                File(stream),
                save=False,
            )
        return transition(
            obj=job,
            to_status=Job.Status.SUCCEEDED,
            actor=actor,
            action="export_succeeded",
            extra_fields={
                "finished_at": timezone.now(),
                "output_file": job.output_file.name,
                "progress": rows,
                "total": rows,
                "result": {"rows": rows, "filename": filename},
            },
        )
    except Exception as error:
        logger.exception("Export job %s stopped", job.pk)
        message = (
            error.message
            if isinstance(error, DomainError)
            else f"The export stopped on an unexpected error (job {job.pk})."
        )
        return transition(
            obj=job,
            to_status=Job.Status.FAILED,
            actor=actor,
            action="export_failed",
            extra_fields={
                "finished_at": timezone.now(),
                "errors": [{"message": message}],
                "result": {"message": message},
            },
        )


# --- statement emails -------------------------------------------------------------

SENDER = Actor.system("statement email")
Status = StatementDelivery.Status


def statement_recipients(customer: Customer) -> list[str]:
    """Billing contacts with an address, else the customer's own address."""
    contacts = Contact.objects.filter(
        customer=customer, role=Contact.Role.BILLING
    ).exclude(email="")
    emails = [contact.email for contact in contacts]
    if not emails and customer.email:
        emails = [customer.email]
    return emails


@transaction.atomic
def statement_email_request(
    *, customer: Customer, start: date, end: date, currency: str, actor: Actor
) -> StatementDelivery:
    """Record a statement email to send; without a recipient it says so."""
    statement(customer=customer, start=start, end=end, currency=currency)  # checks
    organization = current_organization()
    recipients = statement_recipients(customer)
    delivery = StatementDelivery.objects.create(
        organization=organization,
        customer=customer,
        currency=currency,
        period_start=start,
        period_end=end,
        recipients=recipients,
        status=Status.PENDING if recipients else Status.NO_RECIPIENT,
        subject=_statement_subject(customer, organization, start, end),
        requested_by=actor.user if getattr(actor.user, "pk", None) else None,
    )
    audit_record(
        actor=actor,
        obj=delivery,
        action="statement_requested",
        to_status=delivery.status,
        data={"customer": customer.number, "recipients": recipients},
    )
    if recipients:
        transaction.on_commit(
            partial(
                celery.enqueue,
                "reports.send_statement",
                organization.pk,
                delivery.pk,
            )
        )
    return delivery


def _statement_subject(customer, organization, start: date, end: date) -> str:
    """The email's subject in the customer's language, as its text and PDF are."""
    with speaking(customer.language, organization) as language:
        return gettext(
            "Statement of account %(start)s to %(end)s - %(organization)s"
        ) % {
            "start": language.date(start),
            "end": language.date(end),
            "organization": organization.name,
        }


def statement_email_send(*, delivery_id: int) -> StatementDelivery | None:
    """Send one pending statement email; a no-op once claimed."""
    with transaction.atomic():
        delivery = (
            StatementDelivery.objects.select_for_update()
            .filter(pk=delivery_id, status=Status.PENDING)
            .first()
        )
        if delivery is None:
            return None
        domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or None
        delivery = transition(
            obj=delivery,
            to_status=Status.SENDING,
            actor=SENDER,
            extra_fields={"message_id": make_msgid(domain=domain)},
        )
    try:
        the_statement = statement(
            customer=delivery.customer,
            start=delivery.period_start,
            end=delivery.period_end,
            currency=delivery.currency,
        )
        organization = current_organization()
        context = {
            "statement": the_statement,
            "organization": organization,
            "portal_url": portal_link_issue(
                customer=delivery.customer, kind=PortalAccess.Kind.STATEMENT
            ),
        }
        with speaking(delivery.customer.language, organization):
            body = render_to_string("reports/email/statement.txt", context)
        message = EmailMessage(
            subject=delivery.subject,
            body=body,
            to=delivery.recipients,
            headers={"Message-ID": delivery.message_id},
        )
        message.attach(
            f"statement-{delivery.customer.number}-{delivery.period_end}.pdf",
            statement_pdf(the_statement),
            "application/pdf",
        )
        message.send()
    except Exception as error:
        logger.exception("Statement email %s failed", delivery.pk)
        return transition(
            obj=delivery,
            to_status=Status.FAILED,
            actor=SENDER,
            extra_fields={"error": str(error)[:2000]},
        )
    return transition(
        obj=delivery,
        to_status=Status.SENT,
        actor=SENDER,
        extra_fields={"sent_at": timezone.now()},
    )


FORECAST_SNAPSHOT_WEEKS = 13


@transaction.atomic
def forecast_snapshot_take() -> int:
    """Keep this week's cash forecast per currency as it stands today (13
    weeks), so it can later be scored against the cash received. Idempotent:
    a second run on the same day replaces that day's rows. Returns the rows."""
    organization = current_organization()
    today = organization.today()
    ForecastSnapshot.objects.filter(made_on=today).delete()
    rows = [
        ForecastSnapshot(
            organization=organization,
            made_on=today,
            currency=forecast.currency,
            horizon=horizon,
            week_start=week.start,
            amount=week.amount,
        )
        for forecast in cash_forecast(weeks=FORECAST_SNAPSHOT_WEEKS)
        for horizon, week in enumerate(forecast.weeks)
    ]
    ForecastSnapshot.objects.bulk_create(rows)
    return len(rows)


@dataclass
class Backfill:
    mondays: list[date]
    rows: int
    kept_as_made: int  # Mondays left alone: their forecast was kept as made
    model_weeks: int  # Mondays on which the trained model would have served


def forecast_snapshots_backfill(
    *,
    weeks: int,
    today: date | None = None,
    baseline_only: bool = False,
    progress=None,
) -> Backfill:
    """Reconstruct the weekly forecasts of the ``weeks`` Mondays before today,
    each as it would have been made that Monday from what was known at its
    start (:mod:`reports.selectors.forecast_as_of`), marked ``reconstructed``.
    A Monday whose forecast was kept as made is left alone; reconstructed rows
    of a Monday are replaced (idempotent)."""
    # Imported here: the predictor loads LightGBM, which the other reports
    # services do not need.
    from reports.selectors.forecast_as_of import (
        forecast_as_of,
        load_known,
        predictor_as_of,
    )

    organization = current_organization()
    today = today or organization.today()
    last_monday = today - timedelta(days=today.weekday() or 7)
    mondays = [last_monday - timedelta(weeks=n) for n in reversed(range(weeks))]
    made = set(
        ForecastSnapshot.objects.filter(reconstructed=False, made_on__in=mondays)
        .values_list("made_on", flat=True)
        .distinct()
    )
    known = load_known()
    result = Backfill(mondays=[], rows=0, kept_as_made=len(made), model_weeks=0)
    for monday in mondays:
        if monday in made:
            continue
        predictor = predictor_as_of(known, monday, baseline_only=baseline_only)
        result.model_weeks += predictor.kind == "model"
        forecast = forecast_as_of(
            known, monday, predictor, weeks=FORECAST_SNAPSHOT_WEEKS
        )
        with transaction.atomic():
            ForecastSnapshot.objects.filter(made_on=monday).delete()
            rows = ForecastSnapshot.objects.bulk_create(
                ForecastSnapshot(
                    organization=organization,
                    made_on=monday,
                    currency=currency,
                    horizon=horizon,
                    week_start=monday + timedelta(weeks=horizon),
                    amount=amount,
                    reconstructed=True,
                )
                for currency, amounts in forecast.items()
                for horizon, amount in enumerate(amounts)
            )
        result.mondays.append(monday)
        result.rows += len(rows)
        if progress:
            progress(monday, predictor.kind, forecast)
    return result
