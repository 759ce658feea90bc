"""Serializer fields that resolve ids inside the caller's organization only."""

from rest_framework import serializers
from rest_framework.fields import get_attribute

from o2c.errors import ForeignObject
from o2c.money import quantize


class TenantRelatedField(serializers.PrimaryKeyRelatedField):
    """An id of a row of ``model`` in the caller's organization.

    The queryset is built per request (``model.objects`` is tenant-scoped), and an id
    that is not there — absent or another organization's — answers 404 naming the
    field, exactly as a foreign id in the URL does.
    """

    def __init__(self, model, **kwargs):
        self.model = model
        kwargs.setdefault("queryset", None)
        if kwargs.get("read_only"):
            kwargs.pop("queryset")
        super().__init__(**kwargs)

    def get_queryset(self):
        return self.model.objects.all()

    def to_internal_value(self, data):
        if isinstance(data, bool) or not str(data).isdigit():
            self.fail("incorrect_type", data_type=type(data).__name__)
        obj = self.get_queryset().filter(pk=int(data)).first()
        if obj is None:
            name = self.model._meta.verbose_name
            raise ForeignObject(
                "not_found",
                f"No {name} with id {data}.",
                field=self.field_path(),
            )
        return obj

    def field_path(self) -> str:
        parts, field = [], self
        while field is not None and field.field_name:
            parent = field.parent
            if isinstance(parent, serializers.ListSerializer):
                parts.append(f"{parent.field_name}[]")
                field = parent.parent
                continue
            parts.append(field.field_name)
            field = parent
        return ".".join(reversed(parts)) or self.field_name


class MoneyField(serializers.DecimalField):
    """An amount as a decimal string, shown at its currency's minor unit.

    ``currency_source`` names the attribute holding the currency ("currency",
    "invoice.currency"). Input exactness in the currency is checked by services,
    which know the currency; this field only parses the number.
    """

    def __init__(self, currency_source: str = "currency", **kwargs):
        self.currency_source = currency_source.split(".")
        kwargs.setdefault("max_digits", 18)
        kwargs.setdefault("decimal_places", 3)
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        value = super().get_attribute(instance)
        try:
            currency = get_attribute(instance, self.currency_source)
        except (AttributeError, KeyError):
            currency = None
        return (value, currency)

    def to_representation(self, value):
        amount, currency = value if isinstance(value, tuple) else (value, None)
        if amount is None:
            return None
        if currency:
            return str(quantize(amount, currency))
        return super().to_representation(amount)


class QuantityField(serializers.DecimalField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 3)
        super().__init__(**kwargs)
