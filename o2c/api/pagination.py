import re

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError

_WHOLE_NUMBER = re.compile(r"[0-9]+", re.ASCII)
# Ordering columns are bigints at most; a larger position cannot be compared.
_MAX_POSITION = 2**63


class CursorPagination(pagination.CursorPagination):
    """Cursor pages stay fast at any depth: no OFFSET, no COUNT(*).

    A cursor or page size the API did not hand out is bad input (400 naming the
    parameter), never a server error: a cursor is only base64, so a client can
    tamper with the position inside it.
    """

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not _WHOLE_NUMBER.fullmatch(raw) or int(raw) < 1:
            raise ValidationError(
                {self.page_size_query_param: ["Give a whole number from 1."]}
            )
        return min(int(raw), self.max_page_size)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
            if cursor is not None and cursor.position is not None:
                self._check_position(cursor.position)
        except (NotFound, DjangoValidationError, OverflowError):
            raise ValidationError(
                {self.cursor_query_param: ["Invalid cursor; follow a next link."]}
            ) from None
        return cursor

    def _check_position(self, position: str) -> None:
        field = self._model._meta.get_field(self.ordering[0].lstrip("-"))
        value = field.to_python(position)
        if isinstance(value, int) and abs(value) >= _MAX_POSITION:
            raise OverflowError(position)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
                parameter["description"] = (
                    f"Results per page, default {self.page_size}; larger values "
                    f"than {self.max_page_size} are capped at {self.max_page_size}."
                )
        return parameters
