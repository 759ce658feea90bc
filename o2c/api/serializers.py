"""Serializer bases for API input: a body key the serializer does not know is refused.

A misspelt optional field (``"curency": "USD"``) silently dropped would create a
customer in the wrong currency; a read-only field sent back (``"balance"``) silently
ignored would make a client believe it changed something. Both answer 400 naming
the key, nested keys with their path (``lines[0].amont``), beside any other error of
the same body. Serializers of query parameters derive from ``QuerySerializer``: a
query string also carries pagination and other parameters.
"""

import difflib
from collections.abc import Callable, Mapping
from functools import partial
from operator import attrgetter

from django.db import models
from django.http import QueryDict
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.fields import Field, SkipField
from rest_framework.relations import PKOnlyObject

from o2c.api.fields import MoneyField, PlainDecimalField, UTCDateTimeField


class StrictFieldsMixin:
    allow_unknown_fields = False

    def to_internal_value(self, data):
        refused = {} if self.allow_unknown_fields else self._refused_keys(data)
        refused |= self._mistyped(data)
        try:
            value = super().to_internal_value(data)
        except ValidationError as error:
            if refused and isinstance(error.detail, Mapping):
                raise ValidationError({**error.detail, **refused}) from error
            raise
        if refused:
            raise ValidationError(refused)
        return value

    def _mistyped(self, data) -> dict:
        """JSON's own types for text and yes/no: DRF alone turns ``0`` into "0"
        for a text field and reads ``0``/``"yes"`` as a boolean, so a client's
        wrong type would be stored silently. Form data (uploads) is all text."""
        if not isinstance(data, Mapping) or isinstance(data, QueryDict):
            return {}
        mistyped = {}
        for name, field in self.fields.items():
            value = data.get(name)
            if field.read_only or value is None:
                continue
            if isinstance(field, serializers.BooleanField):
                if not isinstance(value, bool):
                    mistyped[name] = ["Must be true or false."]
            elif isinstance(field, serializers.CharField) and not isinstance(
                value, str
            ):
                mistyped[name] = ["Must be a string."]
        return mistyped

    def _refused_keys(self, data) -> dict:
        if not isinstance(data, Mapping):
            return {}
        writable = [name for name, field in self.fields.items() if not field.read_only]
        refused = {}
        for key in data:
            field = self.fields.get(key)
            if field is not None and field.read_only:
                refused[key] = ["Read-only: this field cannot be set."]
            elif field is None:
                close = difflib.get_close_matches(str(key), writable, n=1)
                hint = f" Did you mean '{close[0]}'?" if close else ""
                refused[key] = [f"Unknown field.{hint}"]
        return refused


EMPTY_PARAMETER = "Empty: give a value or leave the parameter out."


class QuerySerializer(serializers.Serializer):
    """Reads query parameters: other keys may be there (pagination, format), but a
    parameter of its own given empty (``?as_of=``) is refused, where DRF's form
    semantics would read it as absent — and answer for today instead."""

    def to_internal_value(self, data):
        errors = {
            name: [EMPTY_PARAMETER] for name in self.fields if is_blank(data, name)
        }
        errors |= {
            name: [REPEATED_PARAMETER]
            for name, field in self.fields.items()
            if name not in errors
            and not isinstance(field, _MANY_VALUED)
            and is_repeated(data, name)
        }
        if errors:
            raise ValidationError(errors)
        return super().to_internal_value(data)


REPEATED_PARAMETER = "Give this parameter once."
_MANY_VALUED = (
    serializers.ListField,
    serializers.MultipleChoiceField,
    serializers.ManyRelatedField,
)


def is_repeated(params, name: str) -> bool:
    """A one-valued parameter given several times (``?policy=1&policy=2``): read
    as its last value by Django, so the others would be silently ignored."""
    return hasattr(params, "getlist") and len(params.getlist(name)) > 1


def is_blank(params, name: str) -> bool:
    """Given, but with nothing in it (``?as_of=`` or ``?as_of=&as_of= ``)."""
    if name not in params:
        return False
    values = params.getlist(name) if hasattr(params, "getlist") else [params[name]]
    return all(isinstance(value, str) and not value.strip() for value in values)


class Serializer(StrictFieldsMixin, serializers.Serializer):
    pass


class ModelSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    # A model's decimal column reads the documented digits only, like every other
    # decimal input ("1e2", " 1" or "" are refused, as the schema's pattern says).
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DecimalField: PlainDecimalField,
        models.DateTimeField: UTCDateTimeField,
    }


def representations(serializer_class) -> Callable[[list], list[dict]]:
    """A function showing a list of instances as ``serializer_class(objs,
    many=True).data`` does, for the events of a model.

    One serializer, made on first use, serves every call: a serializer builds its
    fields (and a model serializer derives them from the model) each time it is
    made, which for one invoice or payment event costs more than showing it.
    Showing an instance only reads it (no request, no context), so the one
    serializer can be shared. Its fields are read through :func:`_field_plan`:
    a batch of 1,000 invoices makes 2,000 event representations.
    """
    plan = None

    def represent(objects: list) -> list[dict]:
        nonlocal plan
        if plan is None:
            plan = _field_plan(serializer_class())
        return [_shown(obj, plan) for obj in objects]

    return represent


def _shown(instance, plan) -> dict:
    shown = {}
    for name, show in plan:
        value = show(instance)
        if value is not _SKIPPED:
            shown[name] = value
    return shown


def _field_plan(serializer) -> list[tuple[str, Callable]]:
    """(name, function of the instance giving the field's JSON) per readable
    field, as ``Serializer.to_representation`` gives it.

    A field showing one of the model's own columns as it is (a text, number,
    date, choice or moment) or a foreign key as its id reads the attribute
    directly, and an amount its value and currency: DRF's generic path (source
    lookup, callables, ``SkipField``) costs more than the value. Every other
    field (nested, methods, dotted sources) goes through DRF.
    """
    model = getattr(getattr(serializer, "Meta", None), "model", None)
    columns = {}
    if model is not None:
        columns = {f.name: f for f in model._meta.concrete_fields}
    return [
        (field.field_name, _shown_by(field, columns.get(field.source)))
        for field in serializer._readable_fields
    ]


_AS_IS = (
    serializers.CharField,
    serializers.IntegerField,
    serializers.BooleanField,
    serializers.DecimalField,
    serializers.DateField,
    serializers.DateTimeField,
    serializers.ChoiceField,
)


def _shown_by(field, column) -> Callable:
    if column is not None and field.source_attrs == [field.source]:
        if isinstance(field, MoneyField):
            return _money(field, column.attname)
        if column.is_relation and type(field) is serializers.PrimaryKeyRelatedField:
            if field.pk_field is None:
                return attrgetter(column.attname)
        elif type(field).get_attribute is Field.get_attribute and isinstance(
            field, _AS_IS
        ):
            read, show = attrgetter(column.attname), field.to_representation

            def column_value(instance):
                value = read(instance)
                return None if value is None else show(value)

            return column_value
    return partial(_generic, field)


def _money(field, attname: str) -> Callable:
    amount_of = attrgetter(attname)
    currency_of = attrgetter(".".join(field.currency_source))

    def money(instance):
        amount = amount_of(instance)
        try:
            currency = currency_of(instance)
        except (AttributeError, KeyError):
            currency = None
        return field.to_representation((amount, currency))

    return money


_SKIPPED = object()  # a field DRF leaves out of the representation


def _generic(field, instance):
    try:
        attribute = field.get_attribute(instance)
    except SkipField:
        return _SKIPPED
    value = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
    return None if value is None else field.to_representation(attribute)
