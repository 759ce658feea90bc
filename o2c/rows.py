"""Set-wise INSERT and UPDATE of plain rows, for services that write many at once.

``bulk_create`` builds a model instance per row and prepares every value through
the field API; for a thousand audit events or invoice lines of one request that
is most of the request's time. Here the rows are dicts of column values (already
the database's types: ``Decimal``, ``date``, ids, JSON-able dicts), written on
PostgreSQL by one ``INSERT … SELECT … FROM unnest(…)`` per table — one array per
column, typed from the model's fields — and by ``bulk_create`` elsewhere (SQLite,
the embedded default, where a batch is small and instances are cheap enough).

Only for services that have already checked what they write: no field
validation, no signals, no ``save()`` (none of the project's models rely on them).
"""

from __future__ import annotations

import json
from functools import cache

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models
from django.db.models.fields import AutoFieldMixin
from django.utils import timezone


class RoundTrip:
    """Writes that go to the database together.

    On PostgreSQL the statements given to :meth:`execute` are held and sent with
    the last one (:meth:`send`) as one query string, which psycopg2 sends in one
    round trip: each statement still sees the effects of those before it, and
    an error in any fails the call (and the transaction) as it would alone.
    Elsewhere (SQLite, in-process) each runs when it is given.

    For a service that writes a few rows of several tables per document, the
    round trips, not the statements, are most of its time.
    """

    def __init__(self):
        self.together = _on_postgresql()
        self._statements: list[str] = []
        self._params: list = []

    def execute(self, sql: str, params=()) -> None:
        if not self.together:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
            return
        self._statements.append(sql)
        self._params.extend(params)

    def send(self, sql: str | None = None, params=()) -> list[tuple]:
        """Send the held statements, then ``sql``; return the rows ``sql``
        returns."""
        if sql is not None and self.together:
            self._statements.append(sql)
            self._params.extend(params)
        if self.together:
            if not self._statements:
                return []
            sql, params = ";\n".join(self._statements), self._params
            self._statements, self._params = [], []
        elif sql is None:
            return []
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []


def insert_rows(
    model: type[models.Model], rows: list[dict], *, trip: RoundTrip | None = None
) -> list[int]:
    """Insert ``rows`` (attribute name → value; defaults for the rest) and return
    their new ids, in order; with ``trip``, sent last of its statements."""
    if not rows:
        if trip is not None:
            trip.send()
        return []
    fields = _fields(model)
    values = {f.attname: _column(f, rows) for f in fields}
    if not _on_postgresql():
        created = model._base_manager.bulk_create(
            [
                model(**{name: values[name][i] for name in values})
                for i in range(len(rows))
            ]
        )
        return [obj.pk for obj in created]
    returned = (trip or RoundTrip()).send(
        _insert_sql(model), [values[f.attname] for f in fields]
    )
    return [row[0] for row in returned]


def insert_instances(objs: list[models.Model], *, trip: RoundTrip | None = None):
    """Insert new instances of one model as ``bulk_create`` would (``auto_now``
    fields set to now), through :func:`insert_rows`'s prepared INSERT instead
    of the ORM's compiler: each gets its id and counts as saved. Returns
    ``objs``."""
    if not objs:
        return objs
    if not _on_postgresql():  # the instances themselves, stamped by the ORM
        type(objs[0])._base_manager.bulk_create(objs)
        return objs
    fields = _fields(type(objs[0]))
    stamped = [
        f
        for f in fields
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    now = timezone.now()
    for obj in objs:
        for field in stamped:
            if field.auto_now or getattr(obj, field.attname) is None:
                setattr(obj, field.attname, now)
    rows = [{f.attname: getattr(obj, f.attname) for f in fields} for obj in objs]
    for obj, pk in zip(objs, insert_rows(type(objs[0]), rows, trip=trip), strict=True):
        obj.pk = pk
        obj._state.adding, obj._state.db = False, connection.alias
    return objs


def queue_rows(model: type[models.Model], rows: list[dict], trip: RoundTrip) -> None:
    """Insert ``rows`` with ``trip``'s next send (their ids are not returned);
    elsewhere (SQLite) at once."""
    if not rows:
        return
    if not trip.together:
        insert_rows(model, rows)
        return
    fields = _fields(model)
    sql = _insert_sql(model).rpartition(" RETURNING ")[0]
    trip.execute(sql, [_column(f, rows) for f in fields])


@cache
def _fields(model: type[models.Model]) -> list[models.Field]:
    """The columns an INSERT gives: all but an id the database numbers."""
    return [
        f
        for f in model._meta.concrete_fields
        if not (f.primary_key and isinstance(f, AutoFieldMixin))
    ]


@cache
def _insert_sql(model: type[models.Model]) -> str:
    """The INSERT of a model's rows (made once: for one invoice's few rows,
    typing every column again cost as much as the database's work)."""
    quote = connection.ops.quote_name
    fields = _fields(model)
    arrays = ", ".join(f"%s::{_array_type(f)}" for f in fields)
    return (
        f"INSERT INTO {quote(model._meta.db_table)} "
        f"({', '.join(quote(f.column) for f in fields)}) "
        f"SELECT * FROM unnest({arrays}) RETURNING {quote(model._meta.pk.column)}"
    )


def update_column(
    model: type[models.Model],
    column: str,
    values: dict[int, object],
    *,
    trip: RoundTrip | None = None,
) -> None:
    """Set ``column`` of each row by id to its value, in one statement."""
    update_rows(model, {pk: {column: value} for pk, value in values.items()}, trip=trip)


def update_rows(
    model: type[models.Model],
    rows: dict[int, dict[str, object]],
    *,
    trip: RoundTrip | None = None,
) -> None:
    """Set the fields of each row by id (field name → value, the same fields
    for every row; a foreign key by its instance or its id) in one statement;
    with ``trip``, held for its round trip."""
    if not rows:
        return
    names = list(next(iter(rows.values())))
    fields = [model._meta.get_field(name) for name in names]
    if connection.vendor != "postgresql":
        model._base_manager.filter(pk__in=list(rows)).update(
            **{
                field.attname: models.Case(
                    *(
                        models.When(
                            pk=pk, then=models.Value(_db_value(row[name]), field)
                        )
                        for pk, row in rows.items()
                    ),
                    output_field=field,
                )
                for name, field in zip(names, fields, strict=True)
            }
        )
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    arrays = ", ".join(f"%s::{_array_type(field)}" for field in fields)
    columns = [f"c{index}" for index in range(len(fields))]
    assignments = ", ".join(
        f"{quote(field.column)} = v.{column}"
        for field, column in zip(fields, columns, strict=True)
    )
    values = [
        _prepared(field, [_db_value(row[name]) for row in rows.values()])
        for name, field in zip(names, fields, strict=True)
    ]
    sql = (
        f"UPDATE {table} SET {assignments} FROM unnest(%s::bigint[], {arrays}) "
        f"AS v(id, {', '.join(columns)}) "
        f"WHERE {table}.{quote(model._meta.pk.column)} = v.id"
    )
    if trip is None:
        with connection.cursor() as cursor:
            cursor.execute(sql, [list(rows), *values])
    else:
        trip.execute(sql, [list(rows), *values])


def _db_value(value):
    return value.pk if isinstance(value, models.Model) else value


def _prepared(field: models.Field, column: list) -> list:
    if isinstance(field, models.JSONField):
        return [
            None if value is None else json.dumps(value, cls=DjangoJSONEncoder)
            for value in column
        ]
    return column


def _column(field: models.Field, rows: list[dict]) -> list:
    name = field.attname
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        now = timezone.now()
        return [row.get(name) or now for row in rows]
    default = field.get_default()
    column = [row.get(name, default) for row in rows]
    if _on_postgresql():
        return _prepared(field, column)
    return column


@cache
def _on_postgresql() -> bool:
    """Whether the default database is PostgreSQL (fixed for the process; asked
    through ``connection`` it costs a thread-local lookup each time)."""
    return connection.vendor == "postgresql"


@cache
def _array_type(field: models.Field) -> str:
    if isinstance(field, models.JSONField):
        return "jsonb[]"
    if isinstance(field, models.ForeignKey):
        field = field.target_field
        return field.rel_db_type(connection) + "[]"
    # Without length and precision: the column's own type checks the values.
    return field.db_type(connection).split("(")[0].strip() + "[]"
