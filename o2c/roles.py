"""What each role may do. Views name a capability; this table says who has it."""

from o2c.models import Role

A, F, C, V = Role.ADMIN, Role.FINANCE, Role.COLLECTOR, Role.VIEWER

CAPABILITIES: dict[str, frozenset[str]] = {
    # read anything in the organization
    "view": frozenset({A, F, C, V}),
    # customers, contacts, terms, items
    "manage_customers": frozenset({A, F}),
    # orders and shipments
    "sell": frozenset({A, F}),
    # invoices, credit notes
    "bill": frozenset({A, F}),
    # payments, allocations, reversals
    "receive_cash": frozenset({A, F}),
    "write_off": frozenset({A, F}),
    # FX rates the reports convert with
    "manage_fx_rates": frozenset({A, F}),
    # the wording customers receive: dunning and invoice email texts
    "edit_templates": frozenset({A, F}),
    # collections work: calls, promises, disputes, notices
    "collect": frozenset({A, F, C}),
    # members, API keys, organization settings
    "administer": frozenset({A}),
}


def role_can(role: str | None, capability: str) -> bool:
    return role in CAPABILITIES[capability]
