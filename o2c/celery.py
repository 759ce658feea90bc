import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "o2c.settings.dev")

app = Celery("o2c")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Task modules below an app's top level are not found by the default discovery.
app.autodiscover_tasks(["invoicing.imports"])


def enqueue(name: str, *args, countdown: float | None = None, **kwargs) -> None:
    """Enqueue the task registered as ``name``: the seam through which services
    start background work without importing their app's ``tasks`` module (which
    imports them). Eager mode (tests) runs it at once, as ``delay`` would."""
    app.tasks[name].apply_async(args=args, kwargs=kwargs, countdown=countdown)
