"""Background work of collections. Tasks take ids, find their rows and call a
service; each may run twice or be killed halfway (see the services' docstrings).

Beat runs :func:`schedule_runs` every 15 minutes (``CELERY_BEAT_SCHEDULE`` entry
``collecting-schedule-runs``).
"""

import logging
from datetime import date

from celery import shared_task
from django.utils import timezone

import o2c.webhooks  # noqa: F401 (registers the webhook delivery task on workers)
from collecting.models import DunningRun
from collecting.selectors import collecting_settings
from collecting.services.dunning import dunning_run, dunning_run_failed
from collecting.services.sending import notices_send, notices_sweep
from collecting.services.worklist import worklist_rebuild, worklist_refresh
from o2c.models import Organization
from o2c.tasks import tenant_task
from o2c.tenancy import tenant_context
from orders.models import Customer

logger = logging.getLogger(__name__)


@shared_task(name="collecting.schedule_runs")
def schedule_runs() -> int:
    """For each organization whose local dunning hour has passed today and whose
    run of today is not completed, enqueue the run (which catches up missed
    days); and sweep every organization's notices."""
    enqueued = 0
    for organization in Organization.objects.all():
        with tenant_context(organization):
            local = timezone.now().astimezone(organization.tzinfo)
            sweep_notices.delay(organization.pk)
            if local.hour < collecting_settings().dunning_hour:
                continue
            done = DunningRun.objects.filter(
                run_date=local.date(), status=DunningRun.Status.COMPLETED
            ).exists()
            if not done:
                run_dunning.delay(organization.pk, local.date().isoformat())
                enqueued += 1
    return enqueued


@shared_task(name="collecting.run_dunning", acks_late=True)
@tenant_task
def run_dunning(organization_id: int, run_date: str | None = None) -> list[int]:
    """Run the dunning up to ``run_date`` (default the organization's today)."""
    target = date.fromisoformat(run_date) if run_date else None
    try:
        runs = dunning_run(target_date=target)
    except Exception as error:
        if target is not None:
            dunning_run_failed(day=target, error=f"{type(error).__name__}: {error}")
        raise
    return [run.pk for run in runs]


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
