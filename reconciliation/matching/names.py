"""Recognising a payer by the name on the bank line.

Banks pass on whatever the payer's bank holds: upper case, accents dropped
("MUELLER" for "Müller"), the legal form abbreviated or left out, punctuation
lost, the name cut at 27, 35 or 70 characters. :func:`normalise` brings the
payer's name and a customer's name to the same plain form; :func:`name_score`
compares two such forms with rapidfuzz (0-100); :func:`customers_named` finds the
customers whose name resembles the payer's through an index, never by reading
every customer:

- on PostgreSQL, the trigram GIN index on ``UPPER(name)`` (migration
  ``orders.0002``): the payer's name (and, for a longer one, its first two
  words) as a word-similar part of the customer's name (``<%``), best first;
- on SQLite, which has no trigrams, a bounded fallback: customers whose upper
  name starts with the payer's first significant word (or "THE " and it),
  through an expression index on ``UPPER(name)`` (migration ``orders.0004``),
  at most :data:`CANDIDATES_FALLBACK` of them. It finds fewer customers than
  PostgreSQL (a misspelt first word or an accented first letter escapes it);
  a line it misses waits in the queue.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from django.db import connection
from django.db.models import BooleanField, F, FloatField, Func, Q, Value
from django.db.models.functions import Upper
from rapidfuzz import fuzz

from orders.models import Customer

CANDIDATES = 20  # customers read per line, best trigram similarity first
CANDIDATES_FALLBACK = 200
MIN_QUERY_LENGTH = 3
TRUNCATED_AT_LEAST = 16  # a payer name this long may be a bank's cut of the name

# Legal forms and words that say nothing about who pays, as they appear after
# folding (upper case, no accents, punctuation gone; "S.A.R.L." is "SARL").
LEGAL_FORMS = frozenset(
    {
        "GMBH", "MBH", "AG", "KG", "KGAA", "OHG", "GBR", "UG", "EV", "EK", "SE",
        "LTD", "LIMITED", "PLC", "LLP", "LP", "INC", "INCORPORATED", "CORP",
        "CORPORATION", "CO", "COMPANY", "LLC", "SA", "SAS", "SARL", "EURL", "SNC",
        "BV", "NV", "VOF", "SRL", "SPA", "SAPA", "SL", "SLU", "AB", "AS", "ASA",
        "OY", "OYJ", "APS", "SPZOO", "SRO", "KK", "PTY", "PTE", "BHD",
        "THE", "AND", "UND", "ET", "EN", "Y", "DE", "DER", "DIE", "DAS",
    }
)  # fmt: skip
# Joined forms, matched before the text is split into words ("GMBH & CO. KG").
_JOINED_FORMS = re.compile(
    r"\b(?:GMBH\s*&\s*CO\.?\s*KG|S\.?\s*A\.?\s*R\.?\s*L|S\.?\s*P\.?\s*A|S\.?\s*R\.?\s*L"
    r"|B\.?\s*V|N\.?\s*V|S\.?\s*A|E\.?\s*V|SP\.?\s*Z\s*O\.?\s*O)\b\.?"
)
_UMLAUTS = str.maketrans({"Ä": "AE", "Ö": "OE", "Ü": "UE", "ß": "SS", "Æ": "AE"})
_SPELLED_UMLAUTS = re.compile(r"(?<=[A-Z])(AE|OE|UE)")
_NOT_LETTERS = re.compile(r"[^A-Z0-9]+")


def fold(name: str) -> str:
    """Upper case, German umlauts spelt out, other accents dropped."""
    text = (name or "").upper().translate(_UMLAUTS)
    text = unicodedata.normalize("NFKD", text)
    return "".join(char for char in text if not unicodedata.combining(char))


def normalise(name: str) -> str:
    """The name as compared: folded, umlauts and their spellings made one
    ("MÜLLER", "MUELLER" and "MULLER" are all "MULLER"), legal forms, articles
    and punctuation gone."""
    text = _JOINED_FORMS.sub(" ", fold(name))
    text = _SPELLED_UMLAUTS.sub(lambda match: match.group(1)[0], text)
    words = [word for word in _NOT_LETTERS.split(text) if word]
    kept = [word for word in words if word not in LEGAL_FORMS]
    return " ".join(kept or words)


def name_score(payer: str, customer: str) -> int:
    """How alike two normalised names are, 0-100 (rapidfuzz's normalised Indel
    similarity). A payer name at least :data:`TRUNCATED_AT_LEAST` long that is
    shorter than the customer's is also compared with the customer's name cut to
    its length, since banks cut long names."""
    if not payer or not customer:
        return 0
    score = fuzz.ratio(payer, customer)
    if len(payer) >= TRUNCATED_AT_LEAST and len(payer) < len(customer):
        score = max(score, fuzz.ratio(payer, customer[: len(payer)]))
    return round(score)


@dataclass(frozen=True)
class NameMatch:
    customer: Customer
    score: int


def customers_named(payer_name: str) -> list[NameMatch]:
    """Customers whose name resembles ``payer_name``, best first (score >= 60)."""
    payer = normalise(payer_name)
    if len(payer.replace(" ", "")) < MIN_QUERY_LENGTH:
        return []
    if connection.vendor == "postgresql":
        found = _trigram_candidates(payer)
    else:
        found = _prefix_candidates(fold(payer_name))
    matches = [
        NameMatch(customer, name_score(payer, normalise(customer.name)))
        for customer in found
    ]
    return sorted(
        (match for match in matches if match.score >= 60),
        key=lambda match: (-match.score, match.customer.pk),
    )


class _WordSimilar(Func):
    """``query <% UPPER(name)``: the payer's name is word-similar to a part of
    the customer's (pg_trgm's ``word_similarity`` at or above its threshold,
    0.6), served by the GIN trigram index on ``UPPER(name)``. Whole-string
    similarity (``%``) is left out: on names that share common words it hands
    the index thousands of rows to recheck."""

    output_field = BooleanField()
    # Doubled twice: once for this template's own formatting, once for the
    # driver's parameter style.
    template = "%(query)s <%%%% %(column)s"

    def as_sql(self, compiler, connection, **extra_context):
        column_sql, column_params = compiler.compile(self.source_expressions[0])
        query_sql, query_params = compiler.compile(self.source_expressions[1])
        sql = self.template % {"query": query_sql, "column": column_sql}
        return sql, (*query_params, *column_params)


def _trigram_candidates(payer: str) -> list[Customer]:
    # A payer name longer than the customer's (a branch, a city added) is
    # also looked up by its first two words.
    words = payer.split()
    condition = Q(_WordSimilar(Upper("name"), Value(payer)))
    if len(words) > 2:
        condition |= Q(_WordSimilar(Upper("name"), Value(" ".join(words[:2]))))
    return list(
        Customer.objects.filter(condition)
        .annotate(
            resemblance=Func(
                Value(payer),
                Upper("name"),
                function="WORD_SIMILARITY",
                output_field=FloatField(),
            )
        )
        .order_by(F("resemblance").desc(), "pk")[:CANDIDATES]
    )


def _prefix_candidates(folded: str) -> list[Customer]:
    words = [word for word in _NOT_LETTERS.split(folded) if word]
    significant = [word for word in words if word not in LEGAL_FORMS] or words
    first = significant[0]
    if len(first) < MIN_QUERY_LENGTH:
        return []
    condition = Q()
    for prefix in {first, f"THE {first}"}:
        condition |= Q(upper_name__gte=prefix, upper_name__lt=prefix + "\uffff")
    return list(
        Customer.objects.annotate(upper_name=Upper("name"))
        .filter(condition)
        .order_by("upper_name", "pk")[:CANDIDATES_FALLBACK]
    )
