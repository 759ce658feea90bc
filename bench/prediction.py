"""Payment-date prediction at scale: training on the bench organization and
scoring every open invoice, beside the customer-median baseline in the same run.

Each measurement runs in a child process of its own (``python -m
bench.prediction CHILD …``), so that its peak memory is its own: the parent
reaps it with ``os.wait4`` and reads the child's maximum resident set size
(``ru_maxrss``, the kernel's high-water mark of the process's RSS, including
Django, NumPy and LightGBM themselves). Wall times are measured in the child
per phase:

- **load**: the organization's history into NumPy arrays (invoices, settlement
  dates from the ledger, disputes, promises, notices);
- **train**: the nightly rule (``train``): with enough history, the candidate
  fitted on the older 70 % and compared on the latest 30 %, then, if it wins,
  refitted on everything — the customer median's interval fitted too;
- **score**: features, the three quantiles, the chances and the reasons
  (TreeSHAP) of every open invoice — and, timed apart, the same without the
  reasons; **store**: their ``InvoicePrediction`` rows written (rolled back).

The baseline child does the same with the customer median only (no LightGBM
training, no contributions). Targets (issue 11, two cores, 2,000,000
invoices): training under 5 minutes and 2 GB; scoring every open invoice
under 60 s.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

TRAIN_TARGET_SECONDS = 300
TRAIN_TARGET_MB = 2048
SCORE_TARGET_SECONDS = 60


def bench_prediction(organization, results: dict) -> None:
    rows = []
    for mode in ("baseline", "model"):
        figures, peak_mb = _child(mode, organization.slug)
        figures["peak_rss_mb"] = peak_mb
        rows.append(figures)
    baseline, model = rows
    results["prediction"] = {"baseline": baseline, "model": model}
    print("\nPrediction (each in its own process; peak = max RSS of that process)")
    print(
        f"{'':24} {'load':>7} {'train':>7} {'score':>7} {'(no rsn)':>8} "
        f"{'store':>7} {'peak MB':>8}  served, rows"
    )
    for label, row in (("Customer median", baseline), ("Nightly rule (model)", model)):
        print(
            f"{label:24} {row['load_seconds']:>7.1f} {row['train_seconds']:>7.1f} "
            f"{row['score_seconds']:>7.1f} "
            f"{row['score_without_reasons_seconds']:>8.1f} "
            f"{row['store_seconds']:>7.1f} "
            f"{row['peak_rss_mb']:>8,.0f}  {row['kind']} ({row['reason']}), "
            f"{row['settled']:,} settled, {row['training_rows']:,} training rows, "
            f"{row['open']:,} open scored"
        )
    training = model["load_seconds"] + model["train_seconds"]
    print(
        f"Targets: training {training:.0f} s (< {TRAIN_TARGET_SECONDS} s) and "
        f"{model['peak_rss_mb']:,.0f} MB (< {TRAIN_TARGET_MB} MB); scoring "
        f"{model['score_seconds'] + model['store_seconds']:.1f} s "
        f"(< {SCORE_TARGET_SECONDS} s)"
    )


def _child(mode: str, slug: str) -> tuple[dict, float]:
    """Run one measurement in a child process; (its figures, its peak RSS in MB)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.prediction", mode, slug],
        stdout=subprocess.PIPE,
        env=os.environ.copy(),
    )
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"prediction {mode} child failed ({process.returncode})")
    figures = json.loads(output.decode().strip().splitlines()[-1])
    return figures, usage.ru_maxrss / 1024  # Linux: kilobytes


def _measure(mode: str, slug: str) -> dict:
    """In the child: the phases of one nightly refresh, timed."""
    import django

    django.setup()
    import numpy as np
    from django.db import transaction

    from collecting.prediction import services
    from collecting.prediction.features import NEVER, load_history
    from collecting.prediction.model import (
        Baseline,
        chance_paid_by,
        settled_rows,
        snapshots,
    )
    from o2c.models import Organization
    from o2c.tenancy import tenant_context

    organization = Organization.objects.get(slug=slug)
    with tenant_context(organization):
        today = organization.today()
        started = time.perf_counter()
        history = load_history()
        loaded = time.perf_counter()
        if mode == "model":
            training = services.train(history, before=today)
        else:
            rows = settled_rows(history, today.toordinal())
            sample = snapshots(history, services.training_sample(rows))
            training = services.Training(
                Baseline.fit(history, *sample),
                services.Reason.TOO_FEW,
                {},
                len(rows),
                len(sample[0]),
            )
        trained = time.perf_counter()
        # The expected dates, intervals and chances alone (no reasons), timed
        # apart: the reasons (TreeSHAP contributions) are most of the scoring.
        open_rows = np.flatnonzero(history.settled == NEVER)
        predictor = training.predictor
        scored = predictor.score(history, open_rows, today.toordinal(), explain=False)
        chance_paid_by(scored, 0), chance_paid_by(scored, 30)
        without_reasons = time.perf_counter() - trained
        timings = {}
        with transaction.atomic():
            record = services.predictions_store(
                history, training, today=today, timings=timings
            )
            transaction.set_rollback(True)  # the bench leaves the scores as they were
        return {
            "mode": mode,
            "invoices": len(history),
            "settled": training.settled,
            "training_rows": training.rows,
            "open": record.predictions_count,
            "kind": record.kind,
            "reason": record.reason,
            "metrics": training.metrics,
            "load_seconds": round(loaded - started, 2),
            "train_seconds": round(trained - loaded, 2),
            "score_seconds": round(timings["score"], 2),
            "score_without_reasons_seconds": round(without_reasons, 2),
            "store_seconds": round(timings["store"], 2),
            # The same high-water mark as the parent reads, seen from inside.
            "self_maxrss_mb": round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            ),
        }


if __name__ == "__main__":
    print(json.dumps(_measure(sys.argv[1], sys.argv[2]), default=str))
