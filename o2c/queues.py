"""Which Celery queue each task goes to (README "Running on several machines").

Work is split so that one kind cannot hold up another: a 200,000-row export or a
statement import never sits in front of the morning dunning run, and a slow
customer webhook endpoint never delays an invoice email. Each queue group gets its
own workers (docker-compose.yml: worker-dunning, worker-jobs, worker-webhooks,
worker-default), scaled on their own.

Every task is listed by name: a new task must be given a queue here, and
``tests/platform/test_queues.py`` fails until it is.
"""

DUNNING = "dunning"
SENDING = "sending"
IMPORTS = "imports"
EXPORTS = "exports"
REPORTS = "reports"
WEBHOOKS = "webhooks"
DEFAULT = "default"

QUEUES = (DUNNING, SENDING, IMPORTS, EXPORTS, REPORTS, WEBHOOKS, DEFAULT)

TASK_QUEUES = {
    # The scheduled dunning: deciding who is due and writing the notices.
    "collecting.schedule_runs": DUNNING,
    "collecting.run_dunning": DUNNING,
    "collecting.sweep_notices": DUNNING,
    # Email leaving the building: notices, invoices, statements, portal sign-in
    # links (a customer waits for that one: never behind a long export).
    "collecting.send_notices": SENDING,
    "invoicing.send_invoice_delivery": SENDING,
    "invoicing.send_invoice_deliveries": SENDING,
    "reports.send_statement": SENDING,
    "portal.send_sign_in_links": SENDING,
    # Files people upload, and the matching of what they brought in.
    "invoicing.run_import": IMPORTS,
    "reconciliation.import_statement": IMPORTS,
    "reconciliation.match_statement_lines": IMPORTS,
    "reports.run_export": EXPORTS,
    # Figures computed ahead: month-end metrics, forecasts, payment predictions.
    "reports.refresh_all_metrics": REPORTS,
    "reports.refresh_metrics": REPORTS,
    "reports.snapshot_all_forecasts": REPORTS,
    "reports.snapshot_forecast": REPORTS,
    "collecting.refresh_all_predictions": REPORTS,
    "collecting.refresh_predictions": REPORTS,
    "o2c.deliver_webhook": WEBHOOKS,
    # Housekeeping, and the worklist refreshes every posting asks for (many small
    # tasks after a large import: kept out of the dunning queue for that reason).
    "collecting.rebuild_worklist": DEFAULT,
    "collecting.refresh_account": DEFAULT,
    "o2c.verify_all_ledgers": DEFAULT,
    "o2c.verify_ledger": DEFAULT,
    "o2c.prune_events": DEFAULT,
    "o2c.expire_idempotency_keys": DEFAULT,
    "o2c.sweep_all_jobs": DEFAULT,
    "o2c.sweep_jobs": DEFAULT,
}

# The worker groups of docker-compose.yml (and of the README's hosts): each queue
# is consumed by exactly one group.
WORKER_GROUPS = {
    "worker-dunning": (DUNNING, SENDING),
    "worker-jobs": (IMPORTS, EXPORTS, REPORTS),
    "worker-webhooks": (WEBHOOKS,),
    "worker-default": (DEFAULT,),
}
