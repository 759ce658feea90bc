"""What row-level security costs a request: API lists and the search box timed as
the login role (a superuser, not bound) and as the application role (bound by the
policies), alternating so both see the same load. Never part of the tests.

    DATABASE_URL=postgres://… python -m bench.rls_overhead --org demo [--samples 60]

The organization needs data (``manage.py seed_demo --org demo``). Prints the median
and p95 per request in each mode, and how many ``set_config`` statements the
requests sent (one per tenant switch, README "Tenant isolation").
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rls_overhead")
    parser.add_argument("--org", default="demo")
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--role", default="o2c_app")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "o2c.settings.dev")
    os.environ["DATABASE_APP_ROLE"] = ""  # this script switches roles itself
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    from o2c.models import Organization, OrganizationAPIKey, Role

    organization = Organization.objects.get(slug=args.org)
    api_key, key = OrganizationAPIKey.objects.create_key(
        name="rls overhead", organization=organization, role=Role.FINANCE
    )
    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Api-Key {key}")
    paths = [
        "/api/v1/invoices/?status=open",
        "/api/v1/customers/",
        "/api/v1/ledger-entries/",
        "/api/v1/customers/?search=gmbh",
    ]

    def use_role(role: str | None) -> None:
        connection.close()
        options = connection.settings_dict.setdefault("OPTIONS", {})
        if role:
            options["assume_role"] = role
        else:
            options.pop("assume_role", None)

    timings = {(path, mode): [] for path in paths for mode in ("login", "app")}
    statements = {"login": 0, "app": 0}
    try:
        for _ in range(args.samples):
            for mode, role in (("login", None), ("app", args.role)):
                use_role(role)
                client.get(paths[0])  # connect and warm up outside the timing
                before = connection.tenant_setting_statements
                for path in paths:
                    started = time.perf_counter()
                    response = client.get(path)
                    timings[path, mode].append(time.perf_counter() - started)
                    if response.status_code != 200:
                        raise SystemExit(f"{path} answered {response.status_code}")
                statements[mode] += connection.tenant_setting_statements - before
    finally:
        use_role(None)
        api_key.delete()

    print(f"{args.samples} samples per figure, organization {args.org}")
    print(f"{'request':40} {'login role':>22} {'app role (RLS)':>22}")
    for path in paths:
        cells = []
        for mode in ("login", "app"):
            values = sorted(timings[path, mode])
            p95 = values[int(0.95 * (len(values) - 1))]
            cells.append(
                f"{statistics.median(values) * 1000:6.1f} / {p95 * 1000:6.1f} ms"
            )
        print(f"{path:40} {cells[0]:>22} {cells[1]:>22}")
    print(
        "set_config statements per round of "
        f"{len(paths)} requests: login {statements['login'] / args.samples:.1f}, "
        f"app {statements['app'] / args.samples:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
