"""Ledger consistency checks, registered by the apps that own the rows.

``verify_ledger`` runs every registered check for one organization; a check yields
human-readable problems and yields nothing when all agree.
"""

from collections.abc import Callable, Iterator

LedgerCheck = Callable[[], Iterator[str]]
_checks: list[LedgerCheck] = []


def register_ledger_check(check: LedgerCheck) -> None:
    if check not in _checks:
        _checks.append(check)


def run_ledger_checks() -> list[str]:
    problems: list[str] = []
    for check in _checks:
        problems.extend(check())
    return problems
