"""Background work of collections. Tasks take ids, find their rows and call a
service; each may run twice or be killed halfway (see the services' docstrings).

Beat runs :func:`schedule_runs` every 15 minutes (``CELERY_BEAT_SCHEDULE`` entry
``collecting-schedule-runs``).
"""

import logging
from datetime import date, timedelta

from celery import shared_task
from django.utils import timezone

import o2c.webhooks  # noqa: F401 (registers the webhook delivery task on workers)
from collecting.models import DunningRun
from collecting.prediction.services import predictions_refresh
from collecting.selectors import collecting_settings
from collecting.services.dunning import dunning_run, dunning_run_execute
from collecting.services.sending import notices_send, notices_sweep
from collecting.services.worklist import worklist_rebuild, worklist_refresh
from o2c.errors import ConflictError
from o2c.models import Organization
from o2c.tasks import tenant_task
from o2c.tenancy import current_organization, tenant_context
from orders.models import Customer

logger = logging.getLogger(__name__)


@shared_task(name="collecting.schedule_runs")
def schedule_runs() -> int:
    """For each organization whose local dunning hour has passed today and that
    has no completed run of today, enqueue the run (which catches up missed
    days); and sweep every organization's notices."""
    enqueued = 0
    for organization in Organization.objects.all():
        with tenant_context(organization):
            local = timezone.now().astimezone(organization.tzinfo)
            sweep_notices.delay(organization.pk)
            if local.hour < collecting_settings().dunning_hour:
                continue
            if not _ran_today(local.date()) or _left_queued():
                run_dunning.delay(organization.pk, local.date().isoformat())
                enqueued += 1
    return enqueued


def _ran_today(today: date) -> bool:
    return DunningRun.objects.filter(
        run_date=today, status=DunningRun.Status.COMPLETED
    ).exists()


def _left_queued() -> bool:
    """A run a person started whose task never reached a worker (broker down)."""
    return DunningRun.objects.filter(
        status=DunningRun.Status.QUEUED,
        started_at__lt=timezone.now() - timedelta(minutes=2),
    ).exists()


@shared_task(name="collecting.run_dunning", acks_late=True)
@tenant_task
def run_dunning(
    organization_id: int, run_date: str | None = None, run_id: int | None = None
) -> int | None:
    """Execute the queued run ``run_id`` (a person's), or the day's scheduled run.

    ``run_date`` is the day beat enqueued it for; the run is always as of the
    organization's today, so a task delivered late does today's run (once: a
    day with a completed run is not run again by the schedule).
    """
    if run_id is not None:
        run = DunningRun.objects.filter(pk=run_id).first()
        return dunning_run_execute(run=run).pk if run is not None else None
    active = DunningRun.objects.filter(status__in=DunningRun.ACTIVE).first()
    if active is not None:
        # Under way in another worker (this one waits for its lock and finds it
        # done), left running by a worker that died (done again from scratch), or
        # queued by a person while the broker was down.
        return dunning_run_execute(run=active).pk
    if _ran_today(current_organization().today()):
        return None
    try:
        return dunning_run().pk
    except ConflictError:  # started elsewhere at this very moment
        return None


# SMTP gives up after EMAIL_TIMEOUT per message; a batch still running after ten
# minutes is stuck. The hard limit kills it and its claimed notices stay
# "sending" until the sweep flags them for a person.
@shared_task(
    name="collecting.send_notices", acks_late=True, soft_time_limit=540, time_limit=600
)
@tenant_task
def send_notices(organization_id: int, notice_ids: list[int]) -> dict:
    """Claim and send pending notices; a no-op for notices already claimed."""
    return notices_send(notice_ids=notice_ids)


@shared_task(name="collecting.sweep_notices", acks_late=True)
@tenant_task
def sweep_notices(organization_id: int) -> dict:
    return notices_sweep()


@shared_task(name="collecting.rebuild_worklist", acks_late=True)
@tenant_task
def rebuild_worklist(organization_id: int) -> int:
    return worklist_rebuild()


@shared_task(name="collecting.refresh_account", acks_late=True)
@tenant_task
def refresh_account(organization_id: int, customer_id: int) -> int:
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        return 0
    return worklist_refresh(customer=customer)


@shared_task(name="collecting.refresh_all_predictions")
def refresh_all_predictions() -> int:
    """Nightly (beat ``collecting-refresh-predictions``): one training and
    scoring task per organization."""
    organization_ids = list(Organization.objects.values_list("pk", flat=True))
    for organization_id in organization_ids:
        refresh_predictions.delay(organization_id)
    return len(organization_ids)


@shared_task(
    name="collecting.refresh_predictions",
    acks_late=True,
    soft_time_limit=1500,
    time_limit=1800,
)
@tenant_task
def refresh_predictions(organization_id: int) -> str:
    """Train the organization's prediction and score its open invoices. Running
    it twice records two trainings and leaves one score per open invoice."""
    return predictions_refresh().kind
