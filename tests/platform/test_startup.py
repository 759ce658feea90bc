"""A web or worker process freezes what it loaded, so that the garbage collector
stops walking the application's own objects on every full collection."""

import gc
import os
import subprocess
import sys
import weakref
from pathlib import Path

from celery.signals import worker_init, worker_process_init

import o2c.celery
from o2c.startup import freeze_loaded_objects

ROOT = Path(__file__).resolve().parents[2]


def test_a_web_process_freezes_the_application_once_loaded():
    env = os.environ | {"DJANGO_SETTINGS_MODULE": "o2c.settings.dev"}
    code = "import gc, o2c.wsgi; print(gc.get_freeze_count())"
    frozen = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()[-1]
    # The settings, the app registry, the URL conf and the views: every one of
    # them, not a handful.
    assert int(frozen) > 50_000


def test_garbage_is_collected_before_the_freeze_not_kept_forever():
    class Node:
        pass

    cycle = Node()
    cycle.me = cycle
    alive = weakref.ref(cycle)
    del cycle
    try:
        freeze_loaded_objects()
        assert alive() is None
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def connected(signal) -> list:
    return [
        ref() if isinstance(ref, weakref.ReferenceType) else ref
        for _, ref in signal.receivers
    ]


def test_a_worker_freezes_before_it_forks_and_in_each_child(monkeypatch):
    # Not by sending the signals: Celery's Django fix-up listens to them too.
    handler = o2c.celery._freeze_loaded_objects
    assert handler in connected(worker_init)
    assert handler in connected(worker_process_init)
    calls = []
    monkeypatch.setattr(o2c.celery, "freeze_loaded_objects", lambda: calls.append(1))
    handler()
    assert calls == [1]
