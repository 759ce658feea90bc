"""django-filter pieces shared by the stage APIs."""

import django_filters
from django import forms

from o2c.api.fields import organization_members
from o2c.errors import ForeignObject


class IdFilter(django_filters.NumberFilter):
    """A filter on a row id: a whole number ("1.5" is refused, not rounded)."""

    field_class = forms.IntegerField


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


class ChoicesFilter(django_filters.MultipleChoiceFilter):
    """``?status=open&status=partially_paid``: any of several values of a column.

    The values match the row's own column (no join), so no row can appear twice
    and DISTINCT — which would sort the whole result before the page's LIMIT — is off.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("distinct", False)
        super().__init__(*args, **kwargs)
