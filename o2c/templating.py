"""Texts a person edits (email subjects and bodies) in Django template syntax over
plain values, checked before they are saved.

:func:`check_placeholders` refuses a text that does not compile or names a value
the rendering does not give (``{{ customer.nmae }}`` → "Unknown placeholder
{{ customer.nmae }}"), so a typo is an error at the editor, never an empty gap
in a customer's email. A schema maps each top-level name to ``None`` (a value),
a set of names under it (``customer.name``), or :class:`ListOf` those names (a
list looped over: ``{% for invoice in invoices %}{{ invoice.number }}``).
"""

from __future__ import annotations

from django.template import Engine, TemplateSyntaxError
from django.utils.translation import gettext

from o2c.errors import DomainError


class ListOf(frozenset):
    """A list placeholder; its items have these names."""


def compile_template(text: str, *, field: str):
    try:
        return Engine.get_default().from_string(text or "")
    except TemplateSyntaxError as error:
        raise DomainError(
            "invalid_template",
            gettext("Template error: %(error)s") % {"error": error},
            field=field,
        ) from None


def placeholder_list(placeholders: dict) -> list[str]:
    """Every placeholder as it is written, for an editor's list (lists are used
    in a loop, offered separately)."""
    names = []
    for name, fields in placeholders.items():
        if fields is None:
            names.append(name)
        elif not isinstance(fields, ListOf):
            names += [f"{name}.{field}" for field in sorted(fields)]
    return names


def check_placeholders(text: str, *, field: str, placeholders: dict) -> None:
    template = compile_template(text, field=field)
    for lookups, scope in _variables(template.nodelist, {}, placeholders):
        unknown = _unknown_lookup(lookups, scope, placeholders)
        if unknown:
            raise DomainError(
                "unknown_placeholder",
                gettext(
                    "Unknown placeholder %(placeholder)s: use one of the "
                    "placeholders listed."
                )
                % {"placeholder": f"{{{{ {unknown} }}}}"},
                field=field,
            )


def _unknown_lookup(lookups, scope, known) -> str:
    written = ".".join(lookups)
    root, rest = lookups[0], list(lookups[1:])
    if root in scope:
        fields = scope[root]
    elif root in known:
        fields = known[root]
    else:
        return written
    if isinstance(fields, ListOf):
        if rest and rest[0].isdigit():  # invoices.0.number
            rest = rest[1:]
        elif rest:  # invoices|length is fine, invoices.total is not
            return written
    if not rest:
        return ""
    if fields is None or rest[0] not in fields or len(rest) > 1:
        return written
    return ""


def _variables(nodelist, scope, known):
    """(lookups, names in scope) of every variable the nodes use."""
    for node in nodelist:
        for expression in _expressions(node):
            yield from _expression_variables(expression, scope)
        inner = scope
        if hasattr(node, "loopvars"):  # {% for invoice in invoices %}
            lookups = getattr(node.sequence.var, "lookups", None) or ()
            items = known.get(lookups[0]) if len(lookups) == 1 else None
            item = frozenset(items) if isinstance(items, ListOf) else None
            inner = {**scope, "forloop": frozenset({"counter", "first", "last"})}
            inner.update(dict.fromkeys(node.loopvars, item))
        for attribute in getattr(node, "child_nodelists", ()):
            yield from _variables(getattr(node, attribute, None) or [], inner, known)


def _expressions(node):
    if hasattr(node, "filter_expression"):
        yield node.filter_expression
    if hasattr(node, "sequence"):
        yield node.sequence
    for condition, _ in getattr(node, "conditions_nodelists", ()):
        yield from _condition_expressions(condition)


def _condition_expressions(condition):
    if condition is None:
        return
    if hasattr(condition, "value"):
        yield condition.value
    for part in ("first", "second"):
        if getattr(condition, part, None) is not None:
            yield from _condition_expressions(getattr(condition, part))


def _expression_variables(expression, scope):
    candidates = [expression.var] if hasattr(expression, "var") else []
    for _, arguments in getattr(expression, "filters", ()):
        candidates += [value for is_variable, value in arguments if is_variable]
    for variable in candidates:
        lookups = getattr(variable, "lookups", None)
        if lookups:
            yield tuple(lookups), scope
