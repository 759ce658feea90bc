import os

from celery import Celery
from celery.signals import worker_init, worker_process_init

from o2c.startup import freeze_loaded_objects

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "o2c.settings.dev")

app = Celery("o2c")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Task modules below an app's top level are not found by the default discovery.
_NESTED_TASK_PACKAGES = ["invoicing.imports"]
app.autodiscover_tasks()
app.autodiscover_tasks(_NESTED_TASK_PACKAGES)


@worker_init.connect
@worker_process_init.connect
def _freeze_loaded_objects(**kwargs):
    """As the web processes do: the worker before it forks its pool (the
    children share those pages), then each child with what it loaded since."""
    freeze_loaded_objects()


def enqueue(name: str, *args, countdown: float | None = None, **kwargs) -> None:
    """Enqueue the task registered as ``name``: the seam through which services
    start background work without importing their app's ``tasks`` module (which
    imports them). Eager mode (tests) runs it at once, as ``delay`` would."""
    if name not in app.tasks:
        # A web process has not imported the apps' task modules (workers do at
        # start): import them now. Not through ``import_default_modules``,
        # whose Django fix-up runs every system check first (a second's pause
        # in the first request of each web process).
        app.autodiscover_tasks(force=True)
        app.autodiscover_tasks(_NESTED_TASK_PACKAGES, force=True)
    app.tasks[name].apply_async(args=args, kwargs=kwargs, countdown=countdown)
