"""django-filter pieces shared by the stage APIs."""

from datetime import UTC

import django_filters
from django import forms
from django.db import models
from django_filters import utils
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError

from o2c.api.fields import ID_SCHEMA, MAX_ID, DateField, organization_members
from o2c.api.serializers import (
    EMPTY_PARAMETER,
    REPEATED_PARAMETER,
    is_blank,
    is_repeated,
)
from o2c.errors import ForeignObject


@extend_schema_field(ID_SCHEMA)
class IdFilter(django_filters.NumberFilter):
    """A filter on a row id: a whole number from 1 ("1.5" is refused, not rounded)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class TenantIdFilter(IdFilter):
    """Filter by the id of a related row, resolved in the caller's organization.

    An id that is not there (another organization's, or none at all) answers 404,
    exactly like a foreign id in a path or a body: nothing about it leaks.
    """

    def __init__(self, *args, model, **kwargs):
        # not ``self.model``: django-filter sets that to the FilterSet's own model
        self.related_model = model
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        if not self.related_model.objects.filter(pk=value).exists():
            raise ForeignObject(
                "not_found",
                f"No {self.related_model._meta.verbose_name} with id {value}.",
                field=self.field_name.removesuffix("_id"),
            )
        return super().filter(qs, value)


class MemberIdFilter(IdFilter):
    """Filter by a user who must be a member of the caller's organization (404)."""

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        if not organization_members().filter(pk=value).exists():
            raise ForeignObject(
                "not_found",
                f"No member with id {value}.",
                field=self.field_name.removesuffix("_id"),
            )
        return super().filter(qs, value)


class _MomentField(IsoDateTimeField):
    def clean(self, value):
        moment = super().clean(value)
        if moment is None:
            return None
        if not DateField.MIN.year <= moment.year <= DateField.MAX.year:
            raise forms.ValidationError(
                f"Must be between {DateField.MIN.year} and {DateField.MAX.year}."
            )
        # Python reads offsets up to ±23:59; PostgreSQL takes ±15:59 at most.
        return moment.astimezone(UTC)


@extend_schema_field(
    {"type": "string", "format": "date-time", "pattern": r"^(?:19|2[0-9])[0-9]{2}-"}
)
class MomentFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date and time with its offset, in the years of the business
    calendar (as :class:`~o2c.api.fields.DateField`), compared in UTC."""

    field_class = _MomentField


class ChoicesFilter(django_filters.MultipleChoiceFilter):
    """``?status=open&status=partially_paid``: any of several values of a column.

    The values match the row's own column (no join), so no row can appear twice
    and DISTINCT — which would sort the whole result before the page's LIMIT — is off.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("distinct", False)
        super().__init__(*args, **kwargs)


_BOOLEAN_VALUES = {"true", "false"}


class TenantFilterSet(django_filters.FilterSet):
    """The base of the FilterSets ``filterset_fields`` generates: a foreign key
    there is an id resolved in the caller's organization like every other id
    filter (unknown: 404), not a form choice (400 "Select a valid choice")."""

    FILTER_DEFAULTS = {
        **django_filters.FilterSet.FILTER_DEFAULTS,
        models.ForeignKey: {
            "filter_class": TenantIdFilter,
            "extra": lambda field: {"model": field.remote_field.model},
        },
    }


class FilterBackend(DjangoFilterBackend):
    """django-filter, with one behaviour on every list and nowhere else.

    - List filters narrow lists only: a detail, or a list nested under an object
      (a customer's contacts), is not filtered by them (``?currency=XXX`` on a
      customer's page must not turn it into a 404).
    - A filter parameter given empty (``?as_of=``) or a boolean given anything but
      ``true``/``false`` (``?unapplied=yes``) answers 400 naming the parameter;
      django-filter alone treats both as "no filter" and returns the whole list,
      which a client cannot tell from a filtered one.
    """

    filterset_base = TenantFilterSet

    def filter_queryset(self, request, queryset, view):
        if not is_list_action(view):
            return queryset
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        _check_raw_values(filterset.form, request.query_params)
        if not filterset.is_valid():
            raise utils.translate_validation(filterset.errors)
        return filterset.qs


def is_list_action(view) -> bool:
    """The view answers its own list: a viewset's ``list``, or a generic list view
    with no object named in its path."""
    action = getattr(view, "action", None)
    if action is not None:
        return action == "list"
    lookup = getattr(view, "lookup_url_kwarg", None) or getattr(
        view, "lookup_field", None
    )
    return lookup not in (getattr(view, "kwargs", None) or {})


def _check_raw_values(form, params) -> None:
    errors = {}
    for name, field in form.fields.items():
        for param in _param_names(name, field.widget):
            if param not in params:
                continue
            if is_blank(params, param):
                errors[param] = [EMPTY_PARAMETER]
            elif isinstance(field, forms.NullBooleanField) and any(
                value.lower() not in _BOOLEAN_VALUES for value in params.getlist(param)
            ):
                errors[param] = ["Must be true or false."]
            elif not isinstance(field, forms.MultipleChoiceField) and is_repeated(
                params, param
            ):
                errors[param] = [REPEATED_PARAMETER]
    if errors:
        raise ValidationError(errors)


def _param_names(name: str, widget) -> list[str]:
    suffixes = getattr(widget, "suffixes", None)
    if suffixes:
        return [widget.suffixed(name, suffix) for suffix in suffixes]
    return [name]
