"""``python -m bench.alone URL``: the tenants suite's baseline, in a process of its own.

Seeds (once) one small tenant into the database at URL, created and migrated if
missing, and times its pages with the same code as the shared database's, as
``bench/tenants.py`` asks: one JSON line in (a page's position and a number of
requests), one out (their milliseconds), until its standard input closes.
"""

from __future__ import annotations

import argparse
import sys

from bench.__main__ import _configure_django


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alone")
    parser.add_argument("database_url")
    parser.add_argument("--label", required=True)
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--months", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    options = parser.parse_args(argv)
    _configure_django(options.database_url)

    from bench.tenants import serve_alone

    serve_alone(
        label=options.label,
        customers=options.customers,
        months=options.months,
        seed=options.seed,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
