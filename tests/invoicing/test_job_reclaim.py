"""An import job whose worker died is taken over once it is past the task's time
limit, and finishes exactly once."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile

from invoicing.imports.services import import_job_create
from invoicing.imports.tasks import run_import
from invoicing.models import Invoice, LedgerEntry
from o2c.models import AuditEvent, Job
from o2c.tasks import sweep_jobs
from tests.factories import SYSTEM, CustomerFactory

STARTED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FILE = (
    "number,customer,invoice_date,due_date,amount,currency,settled_date\n"
    "OLD-1,C1,2026-01-10,2026-02-09,100.00,EUR,\n"
    "OLD-2,C1,2026-01-12,2026-02-11,40.00,EUR,2026-02-20\n"
)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def abandoned_job(tenant, settings, django_capture_on_commit_callbacks):
    """A job a worker claimed at STARTED and then died on (killed, out of memory):
    its import transaction rolled back, the row still says "running"."""
    CustomerFactory(number="C1", currency="EUR")
    with time_machine.travel(STARTED, tick=False):
        with django_capture_on_commit_callbacks(execute=False):
            job = import_job_create(
                kind="invoices",
                file=SimpleUploadedFile("history.csv", FILE.encode()),
                actor=SYSTEM,
            )
        Job.objects.filter(pk=job.pk).update(
            status=Job.Status.RUNNING, started_at=STARTED
        )
    return job


def redelivered_at(moment: datetime, tenant, job) -> Job:
    """The broker hands the unacknowledged task to a live worker at ``moment``."""
    with time_machine.travel(moment, tick=False):
        run_import(tenant.pk, job.pk)
    job.refresh_from_db()
    return job


@pytest.mark.django_db
def test_a_job_whose_worker_died_is_reclaimed_after_the_time_limit_and_runs_once(
    tenant, settings, abandoned_job
):
    limit = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)

    # Within the time limit the first worker may still be at it: left alone.
    job = redelivered_at(STARTED + limit - timedelta(minutes=1), tenant, abandoned_job)
    assert job.status == Job.Status.RUNNING
    assert not Invoice.objects.exists()

    # Past the limit that worker is certainly gone: the job is taken over.
    reclaimed_at = STARTED + limit + timedelta(minutes=1)
    job = redelivered_at(reclaimed_at, tenant, job)
    assert job.status == Job.Status.SUCCEEDED, job.errors
    assert job.started_at == reclaimed_at
    assert (job.result["created"], job.result["settled"]) == (2, 1)
    assert sorted(Invoice.objects.values_list("external_id", "open_amount")) == [
        ("OLD-1", Decimal("100.00")),
        ("OLD-2", Decimal("0.00")),
    ]
    claims = AuditEvent.objects.filter(
        object_type="o2c.job", object_id=str(job.pk), to_status=Job.Status.RUNNING
    )
    assert list(claims.values_list("action", "from_status")) == [
        ("reclaimed", Job.Status.RUNNING)
    ]

    # A third delivery of the same task finds it finished: nothing twice.
    entries = LedgerEntry.objects.count()
    job = redelivered_at(reclaimed_at + 2 * limit, tenant, job)
    assert job.status == Job.Status.SUCCEEDED
    assert job.started_at == reclaimed_at
    assert Invoice.objects.count() == 2
    assert LedgerEntry.objects.count() == entries


@pytest.mark.django_db
def test_a_job_redelivered_too_early_is_finished_by_the_sweep(
    tenant, settings, abandoned_job
):
    limit = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    # The worker process is killed and the broker hands the task over at once,
    # while the job still looks alive: that delivery leaves it alone, and no
    # further delivery follows.
    job = redelivered_at(STARTED + timedelta(seconds=5), tenant, abandoned_job)
    assert job.status == Job.Status.RUNNING

    # Within the time limit beat's sweep leaves it alone too.
    with time_machine.travel(STARTED + limit - timedelta(minutes=1), tick=False):
        assert sweep_jobs(tenant.pk) == 0
    # Past it the sweep enqueues the import again, which takes the job over.
    with time_machine.travel(STARTED + limit + timedelta(minutes=5), tick=False):
        assert sweep_jobs(tenant.pk) == 1
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.errors
    assert (job.result["created"], job.result["settled"]) == (2, 1)
    # Finished jobs are not swept again.
    with time_machine.travel(STARTED + 3 * limit, tick=False):
        assert sweep_jobs(tenant.pk) == 0
    assert Invoice.objects.count() == 2


@pytest.mark.django_db
def test_a_queued_job_whose_enqueue_was_lost_is_run_by_the_sweep(
    tenant, django_capture_on_commit_callbacks
):
    CustomerFactory(number="C1", currency="EUR")
    # The request commits, but its enqueue never reaches the broker.
    with (
        time_machine.travel(STARTED, tick=False),
        django_capture_on_commit_callbacks(execute=False),
    ):
        job = import_job_create(
            kind="invoices",
            file=SimpleUploadedFile("history.csv", FILE.encode()),
            actor=SYSTEM,
        )
    with time_machine.travel(STARTED + timedelta(minutes=15), tick=False):
        assert sweep_jobs(tenant.pk) == 1
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
