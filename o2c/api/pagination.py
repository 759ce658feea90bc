from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    """Cursor pages stay fast at any depth: no OFFSET, no COUNT(*)."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
