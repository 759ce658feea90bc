"""A real Celery worker on Redis runs tenant tasks against the test database."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from o2c.celery import app
from o2c.tenancy import tenant_context
from tests.factories import CustomerFactory, issued_invoice

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis (set REDIS_URL)"),
]


@pytest.fixture
def worker(transactional_db):
    """A worker process on its own queue, reading the test database."""
    queue = f"o2c-test-{uuid.uuid4().hex[:8]}"
    database = connection.settings_dict
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "o2c.settings.dev",
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}"
            f"/{database['NAME']}"
        ),
        "REDIS_URL": settings.REDIS_URL,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "o2c", "worker", "--pool=solo",
         "--concurrency=1", "-Q", queue, "--without-heartbeat", "--without-gossip",
         "--without-mingle", "--loglevel=WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False  # the test settings run tasks in-process
    try:
        yield queue
    finally:
        app.conf.task_always_eager = eager
        process.terminate()
        process.wait(timeout=30)


def test_the_worker_verifies_one_organizations_ledger(worker, org):
    with tenant_context(org):
        issued_invoice(CustomerFactory(), "100.00")
    result = app.send_task("o2c.verify_ledger", args=[org.pk], queue=worker)
    assert result.get(timeout=60) == 0


def test_a_task_without_an_organization_fails_in_the_worker(worker):
    result = app.send_task("o2c.verify_ledger", args=[], queue=worker)
    with pytest.raises(Exception, match="needs an organization_id"):
        result.get(timeout=60)
