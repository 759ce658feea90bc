"""``python -m bench.alone URL``: the tenants suite's baseline, in a process of its own.

Seeds (once) one small tenant into the database at URL, created and migrated if
missing, times its pages with the same function as the shared database's, and
prints the figures as one JSON line for ``bench/tenants.py`` to read.
"""

from __future__ import annotations

import argparse
import json
import sys

from bench.__main__ import _configure_django


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alone")
    parser.add_argument("database_url")
    parser.add_argument("--label", required=True)
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--months", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--samples", type=int, required=True)
    options = parser.parse_args(argv)
    _configure_django(options.database_url)

    from bench.tenants import ALONE_MARKER, alone_figures

    figures = alone_figures(
        label=options.label,
        customers=options.customers,
        months=options.months,
        seed=options.seed,
        samples=options.samples,
    )
    print(ALONE_MARKER + json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
