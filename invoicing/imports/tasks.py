"""Celery task of the import: a thin shell over ``services.import_run``.

Registered by name ``invoicing.run_import``. Celery's autodiscovery imports
``<app>.tasks`` modules only, and ``invoicing.imports`` is not an app: the worker
finds this module through ``app.autodiscover_tasks(["invoicing.imports"])`` in
``o2c/celery.py``. The web process imports it when it enqueues a job.
"""

from invoicing.imports.services import JOB_KINDS, import_run
from o2c.celery import app
from o2c.jobs import register_job_task
from o2c.tasks import tenant_task


@app.task(name="invoicing.run_import")
@tenant_task
def run_import(organization_id: int, job_id: int) -> None:
    """Idempotent: a job already running, succeeded or failed is left alone."""
    import_run(job_id=job_id)


for _kind in JOB_KINDS.values():
    register_job_task(_kind, "invoicing.run_import")
