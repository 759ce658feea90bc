"""``make bench``: O2C's figures at realistic scale on PostgreSQL.

Each benchmark prints its figure beside a baseline measured in the same run — the
raw SQL for the same question, or the same rows written by plain INSERTs — so a
number can be judged without knowing the machine. Never part of the tests.

    python -m bench                      # ~50,000 invoices, a few minutes
    python -m bench --invoices 1000000   # the 1M-invoice database
    python -m bench --scale full         # 50,000 customers, ~2,000,000 invoices

The database comes from ``BENCH_DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/o2c_bench``); it is created and migrated if
missing. Each scale is its own organization (``bench-50k``, ``bench-1m``, …) in that
database, seeded once by ``seed_demo``'s bulk loader and reused by later runs.
Results go to ``bench/results/latest.json``. ``--suites core`` runs only the
cases of ``bench/cases.py``; ``web`` times the browser pages and the invoice PDF
(``bench/web.py``); ``reports`` and ``collecting`` are those apps' benchmarks
(``bench/reports.py``, ``bench/collecting.py``); ``reconciliation`` imports and
matches a 10,000-line bank statement (``bench/reconciliation.py``); ``prediction``
trains the payment-date prediction and scores every open invoice, each in a
process of its own whose peak memory is read (``bench/prediction.py``); ``load``
runs 50 API clients against gunicorn for ``--load-seconds`` (``bench/load.py``);
``tenants`` seeds ``--tenants`` small organizations of ``--tenant-invoices`` each
beside the large one and times a small tenant's pages there and alone in a
database of its own (``bench/tenants.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
import warnings
from pathlib import Path
from urllib.parse import urlparse

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/o2c_bench"
SCALES = {"small": 50_000, "full": 2_000_000}
# core: this module's cases; reports and collecting: those apps' own benchmarks.
SUITES = (
    "core",
    "web",
    "reports",
    "collecting",
    "reconciliation",
    "prediction",
    "load",
    "tenants",
)
FULL_CUSTOMERS = 50_000
RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument(
        "--invoices", type=int, help="Invoices to seed (overrides --scale)."
    )
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--writes", type=int, default=300, help="Invoices and payments per write test."
    )
    parser.add_argument(
        "--samples", type=int, default=50, help="Requests per latency figure."
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    )
    parser.add_argument(
        "--suites",
        default=",".join(SUITES),
        help=f"Comma-separated, from {', '.join(SUITES)} (default: all).",
    )
    parser.add_argument(
        "--load-seconds", type=int, default=180, help="Duration of the load test."
    )
    parser.add_argument(
        "--load-clients", type=int, default=50, help="Concurrent API clients."
    )
    parser.add_argument(
        "--load-workers", type=int, default=4, help="gunicorn workers serving them."
    )
    parser.add_argument(
        "--tenants",
        type=int,
        default=200,
        help="Small organizations seeded beside the large one (tenants suite).",
    )
    parser.add_argument(
        "--tenant-invoices",
        type=int,
        default=10_000,
        help="Invoices of each small organization (tenants suite).",
    )
    options = parser.parse_args(argv)
    suites = [name.strip() for name in options.suites.split(",") if name.strip()]
    if unknown := set(suites) - set(SUITES):
        parser.error(f"unknown suites: {', '.join(sorted(unknown))}")

    invoices = options.invoices or SCALES[options.scale]
    _configure_django(options.database_url)

    from bench import setup

    customers = (
        FULL_CUSTOMERS
        if not options.invoices and options.scale == "full"
        else setup.customers_for(invoices, options.months)
    )
    organization, seeding = setup.bench_organization(
        label=_label(invoices),
        customers=customers,
        months=options.months,
        seed=options.seed,
    )
    setup.vacuum_if_unattended()
    setup.warm_cache()
    results = {
        "database": _redacted(options.database_url),
        "organization": organization.slug,
        "scale": setup.scale_of(organization),
        "seed": seeding,
    }
    for suite in suites:
        # A suite that fails is reported and the others still run: one broken
        # benchmark must not cost the figures of the rest.
        try:
            _run_suite(suite, organization, results, options)
        except Exception as error:
            traceback.print_exc()
            results[suite] = {"error": repr(error)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"\nWritten to {RESULTS / 'latest.json'}")
    return 0


def _run_suite(suite: str, organization, results: dict, options) -> None:
    if suite == "core":
        from bench import cases

        results.update(
            cases.run_all(organization, writes=options.writes, samples=options.samples)
        )
        cases.print_report(results)
    elif suite in ("web", "reports"):
        from bench import cases

        if suite == "web":
            from bench.web import bench_web as bench_suite
        else:
            from bench.reports import bench_reports as bench_suite
        rows = []

        def report(name, seconds, baseline_seconds, note):
            rows.append(
                {
                    "name": name,
                    "seconds": seconds,
                    "baseline_seconds": baseline_seconds,
                    "note": note,
                }
            )

        bench_suite(organization, report)
        results[suite] = rows
        cases.print_timings("Web pages" if suite == "web" else "Reports", rows)
    elif suite == "collecting":
        from bench.collecting import bench_collecting

        bench_collecting(organization, results)
    elif suite == "reconciliation":
        from bench.reconciliation import bench_reconciliation

        bench_reconciliation(organization, results, seed=options.seed)
    elif suite == "prediction":
        from bench.prediction import bench_prediction

        bench_prediction(organization, results)
    elif suite == "load":
        from bench.load import bench_load

        bench_load(
            organization,
            results,
            seconds=options.load_seconds,
            clients=options.load_clients,
            workers=options.load_workers,
            seed=options.seed,
        )
    elif suite == "tenants":
        from bench.tenants import bench_tenants

        bench_tenants(
            organization,
            results,
            tenants=options.tenants,
            invoices=options.tenant_invoices,
            months=options.months,
            seed=options.seed,
            samples=options.samples,
            database_url=options.database_url,
        )


def _configure_django(database_url: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "o2c.settings.dev"
    os.environ["DATABASE_URL"] = database_url
    os.environ["DEBUG"] = "False"  # no query log growing through millions of rows
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # The page timings sign an admin in with force_login: they measure pages, not
    # the second factor (which would send every request to the setup page).
    os.environ["O2C_REQUIRE_ADMIN_2FA"] = "false"
    _create_database(database_url)

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    # Work the services enqueue (deliveries, worklist refreshes) stays in this
    # process: a bench must not fill a shared queue a real worker would drain.
    from o2c.celery import app

    app.conf.broker_url = "memory://localhost/"
    warnings.filterwarnings("ignore", message="No directory at")
    # As a web or worker process does once loaded (o2c.wsgi, o2c.celery).
    from o2c.startup import freeze_loaded_objects

    freeze_loaded_objects()


def _create_database(database_url: str) -> None:
    import psycopg2
    from psycopg2 import sql

    url = urlparse(database_url)
    name = url.path.lstrip("/")
    server = url._replace(path="/postgres").geturl()
    connection = psycopg2.connect(server)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is None:
                print(f"Creating database {name}…")
                cursor.execute(
                    sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
                )
    finally:
        connection.close()


def _label(invoices: int) -> str:
    if invoices % 1_000_000 == 0:
        return f"{invoices // 1_000_000}m"
    if invoices % 1_000 == 0:
        return f"{invoices // 1_000}k"
    return str(invoices)


def _redacted(database_url: str) -> str:
    url = urlparse(database_url)
    if url.password:
        url = url._replace(netloc=url.netloc.replace(f":{url.password}@", ":***@"))
    return url.geturl()


if __name__ == "__main__":
    sys.exit(main())
