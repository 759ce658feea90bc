"""Celery work is split into queues (o2c/queues.py): every task has one, a big
export or import never shares a queue with the morning dunning, and each place that
starts workers (docker-compose.yml, the demo) consumes every queue."""

import re
import uuid
import warnings
from pathlib import Path

import pytest
import redis
import yaml
from celery.exceptions import AlwaysEagerIgnored
from django.conf import settings

from o2c.celery import app
from o2c.queues import QUEUES, TASK_QUEUES, WORKER_GROUPS

ROOT = Path(__file__).resolve().parents[2]


def registered_tasks() -> list[str]:
    app.loader.import_default_modules()
    # Celery's own tasks, and those a test module registers for itself.
    return sorted(
        name for name in app.tasks if not name.startswith(("celery.", "tests."))
    )


def queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


def test_every_task_is_given_a_declared_queue():
    declared = {queue.name for queue in app.conf.task_queues}
    assert declared == set(QUEUES)
    tasks = registered_tasks()
    # Listed by name, not left to fall into the default queue unnoticed.
    assert set(tasks) == set(TASK_QUEUES)
    for name in tasks:
        assert queue_of(name) in declared, name


def test_the_work_goes_where_intended():
    assert queue_of("collecting.schedule_runs") == "dunning"
    assert queue_of("collecting.run_dunning") == "dunning"
    assert queue_of("collecting.send_notices") == "sending"
    assert queue_of("invoicing.send_invoice_delivery") == "sending"
    assert queue_of("invoicing.send_invoice_deliveries") == "sending"
    assert queue_of("reports.run_export") == "exports"
    assert queue_of("invoicing.run_import") == "imports"
    assert queue_of("reconciliation.import_statement") == "imports"
    assert queue_of("reports.refresh_metrics") == "reports"
    assert queue_of("reports.snapshot_forecast") == "reports"
    assert queue_of("collecting.refresh_predictions") == "reports"
    assert queue_of("o2c.deliver_webhook") == "webhooks"
    assert queue_of("o2c.verify_ledger") == "default"


def test_long_jobs_never_share_a_queue_or_a_worker_with_the_dunning():
    dunning = {
        queue_of(name) for name in ("collecting.run_dunning", "collecting.send_notices")
    }
    long_jobs = {
        queue_of(name)
        for name in (
            "reports.run_export",
            "invoicing.run_import",
            "reconciliation.import_statement",
            "reports.refresh_metrics",
            "collecting.refresh_predictions",
        )
    }
    assert dunning.isdisjoint(long_jobs)
    for queues in WORKER_GROUPS.values():
        assert not (dunning & set(queues) and long_jobs & set(queues)), queues


def test_the_beat_schedule_sends_each_entry_to_its_queue():
    routed = {
        entry["task"]: queue_of(entry["task"])
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }
    assert routed == {
        "reports.refresh_all_metrics": "reports",
        "collecting.schedule_runs": "dunning",
        "collecting.refresh_all_predictions": "reports",
        "reports.snapshot_all_forecasts": "reports",
        "o2c.verify_all_ledgers": "default",
        "o2c.prune_events": "default",
        "o2c.expire_idempotency_keys": "default",
        "o2c.sweep_all_jobs": "default",
    }


def _queues_option(command: list[str]) -> list[str]:
    return command[command.index("--queues") + 1].split(",")


def test_compose_runs_one_worker_group_per_queue_set_and_covers_every_queue():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    consumed = []
    for name, queues in WORKER_GROUPS.items():
        service = services[name]
        assert _queues_option(service["command"]) == list(queues)
        # Scalable: no fixed container name and no published port.
        assert "container_name" not in service and "ports" not in service
        consumed += queues
    assert sorted(consumed) == sorted(QUEUES)  # each queue exactly once
    assert services["beat"]["command"][:4] == ["celery", "-A", "o2c", "beat"]


def test_the_demo_worker_consumes_every_queue():
    script = (ROOT / "scripts" / "demo.sh").read_text()
    (listed,) = re.findall(r'^QUEUES="([^"]+)"', script, flags=re.MULTILINE)
    assert '--queues "$QUEUES"' in script
    assert sorted(listed.split(",")) == sorted(QUEUES)


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis (set REDIS_URL)")
def test_a_task_sent_by_name_lands_in_its_queue_on_redis():
    """What beat does: publish by name, no queue given (send_task never runs a
    task in-process, whatever the test settings' eager mode)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    task_id = f"queue-test-{uuid.uuid4().hex}"

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AlwaysEagerIgnored)
        app.send_task("reports.run_export", args=[0, 0], task_id=task_id)

    try:
        messages = [m.decode() for m in client.lrange("exports", 0, -1)]
        assert [m for m in messages if task_id in m]
        for other in ("dunning", "sending", "default"):
            assert not [m for m in client.lrange(other, 0, -1) if task_id in m.decode()]
    finally:
        for message in client.lrange("exports", 0, -1):
            if task_id in message.decode():
                client.lrem("exports", 1, message)
