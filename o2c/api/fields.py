"""Serializer fields that resolve ids inside the caller's organization only."""

import re
from datetime import UTC, date

from django.contrib.auth import get_user_model
from rest_framework import serializers
from rest_framework.fields import get_attribute
from rest_framework.relations import MANY_RELATION_KWARGS

from o2c.api.errors import NOT_FOUND
from o2c.models import Membership
from o2c.money import quantize
from o2c.tenancy import current_organization

_ID = re.compile(r"[0-9]+", re.ASCII)
MAX_ID = 2**63 - 1
ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)


class UTCDateTimeField(serializers.DateTimeField):
    """A moment, shown and read in UTC, the project's only time zone (none is ever
    activated). DRF would look the current time zone up for every value shown;
    for a list or a batch of events that lookup costs more than the rest of the
    field."""

    timezone = UTC


def parse_id(data) -> int:
    """An id: a whole number from 1, as a JSON number or a string of ASCII digits.

    ``str.isdigit`` is not enough: it accepts superscripts, which ``int()`` then
    refuses, and other scripts' digits, which it reads as another id.
    """
    if isinstance(data, str) and _ID.fullmatch(data):
        data = int(data)
    elif not isinstance(data, int) or isinstance(data, bool):
        raise serializers.ValidationError(
            f"An id is a whole number, not {type(data).__name__}.", "incorrect_type"
        )
    if not 0 < data <= MAX_ID:
        raise serializers.ValidationError(
            f"An id is a whole number from 1 to {MAX_ID}.", "invalid"
        )
    return data


class IdListField(serializers.ManyRelatedField):
    """A JSON list of ids; DRF's own takes any iterable, so a dict's keys."""

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        return super().to_internal_value(data)


class TenantRelatedField(serializers.PrimaryKeyRelatedField):
    """An id of a row of ``model`` in the caller's organization.

    The queryset is built per request (``model.objects`` is tenant-scoped), and an id
    that is not there — absent or another organization's — is refused with the code
    ``not_found``, which the exception handler answers with 404, exactly as a
    foreign id in the URL. Raised as a validation error, it carries the full path of
    the input at fault (``allocations[1].invoice``).
    """

    def __init__(self, model, **kwargs):
        self.model = model
        kwargs.setdefault("queryset", None)
        if kwargs.get("read_only"):
            kwargs.pop("queryset")
        super().__init__(**kwargs)

    @classmethod
    def many_init(cls, *args, **kwargs):
        list_kwargs = {k: v for k, v in kwargs.items() if k in MANY_RELATION_KWARGS}
        return IdListField(child_relation=cls(*args, **kwargs), **list_kwargs)

    def get_queryset(self):
        return self.model.objects.all()

    def to_internal_value(self, data):
        pk = parse_id(data)
        obj = self.get_queryset().filter(pk=pk).first()
        if obj is None:
            name = self.model._meta.verbose_name
            raise serializers.ValidationError(f"No {name} with id {pk}.", NOT_FOUND)
        return obj


def organization_members():
    """Users who are members of the caller's organization."""
    members = Membership.objects.filter(organization=current_organization())
    return get_user_model().objects.filter(pk__in=members.values("user_id"))


class MemberField(serializers.PrimaryKeyRelatedField):
    """A user id that must be a member of the caller's organization (404 if not)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("queryset", None)
        super().__init__(**kwargs)

    def get_queryset(self):
        return organization_members()

    def to_internal_value(self, data):
        pk = parse_id(data)
        user = self.get_queryset().filter(pk=pk).first()
        if user is None:
            raise serializers.ValidationError(f"No member with id {pk}.", NOT_FOUND)
        return user


class DateField(serializers.DateField):
    """A business date between 1900 and 2999.

    Far-off dates are typing mistakes, and date arithmetic on them (due dates,
    grace days, dunning offsets) would overflow Python's calendar.
    """

    MIN = date(1900, 1, 1)
    MAX = date(2999, 12, 31)

    def to_internal_value(self, value):
        day = super().to_internal_value(value)
        if not self.MIN <= day <= self.MAX:
            raise serializers.ValidationError(
                f"Date must be between {self.MIN.isoformat()} and "
                f"{self.MAX.isoformat()}.",
                "date_out_of_range",
            )
        return day


class PlainDecimalField(serializers.DecimalField):
    """A decimal written with ASCII digits and an optional point, as documented.

    ``Decimal()`` alone also reads "1e2" and Arabic-Indic or other Unicode digits.
    """

    def to_internal_value(self, data):
        if isinstance(data, bool) or not _DECIMAL.fullmatch(str(data)):
            self.fail("invalid")
        return super().to_internal_value(data)


class MoneyField(PlainDecimalField):
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


class QuantityField(PlainDecimalField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 3)
        super().__init__(**kwargs)
