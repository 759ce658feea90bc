"""Background work of the reports: exports, month-end figures, statement emails.

Beat runs ``reports.refresh_all_metrics`` nightly (one refresh per organization,
which compacts the ledger first); the dashboard also asks for a refresh when it
finds the figures stale.
"""

from celery import shared_task

from o2c.jobs import register_job_task
from o2c.models import Organization
from o2c.tasks import tenant_task
from reports.services import (
    export_run,
    forecast_snapshot_take,
    ledger_compact,
    metrics_refresh,
    statement_email_send,
)


@shared_task(name="reports.run_export", acks_late=True)
@tenant_task
def run_export(organization_id: int, job_id: int) -> None:
    """Idempotent: a job already running, succeeded or failed is left alone."""
    export_run(job_id=job_id)


register_job_task("export_*", "reports.run_export")


@shared_task(name="reports.refresh_metrics", acks_late=True)
@tenant_task
def refresh_metrics(organization_id: int, force: bool = False) -> None:
    """A no-op when the stored figures are fresh and few entries were posted
    since the ledger was compacted (unless ``force``)."""
    ledger_compact(force=force)
    metrics_refresh(force=force)


@shared_task(name="reports.refresh_all_metrics")
def refresh_all_metrics() -> None:
    for organization_id in Organization.objects.values_list("pk", flat=True):
        refresh_metrics.delay(organization_id, force=True)


# Rendering and SMTP take seconds: a task still running after minutes is stuck.
@shared_task(
    name="reports.send_statement", acks_late=True, soft_time_limit=120, time_limit=180
)
@tenant_task
def send_statement(organization_id: int, delivery_id: int) -> None:
    statement_email_send(delivery_id=delivery_id)


@shared_task(name="reports.snapshot_forecast", acks_late=True)
@tenant_task
def snapshot_forecast(organization_id: int) -> None:
    """Idempotent: the day's snapshot is replaced."""
    forecast_snapshot_take()


@shared_task(name="reports.snapshot_all_forecasts")
def snapshot_all_forecasts() -> None:
    for organization_id in Organization.objects.values_list("pk", flat=True):
        snapshot_forecast.delay(organization_id)
