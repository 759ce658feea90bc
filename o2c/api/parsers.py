"""Request body parsing for the API: JSON only (uploads declare their own)."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, also refusing bodies nested too deeply to decode.

    Python's decoder recurses once per level of nesting, so ``[[[[…]]]]`` raises
    RecursionError, which is not a ValueError and would otherwise answer 500.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
