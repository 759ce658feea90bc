"""Invoice references in remittance text.

Payers write references every way: the creditor reference (RF, checked by its
check digits), the invoice number with or without its prefix, with the leading
zeros dropped, with spaces inside, behind words such as "Rechnung", "Invoice no."
or "Re.", several in one text ("INV-17, 18 and 21"). The functions here turn a
text into candidate invoice numbers; the database decides which exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from invoicing.references import references_in_text

# Words that announce an invoice number (several languages and abbreviations).
KEYWORDS = frozenset(
    {
        "INV", "INVOICE", "INVOICES", "INVNO", "INVNR", "RECHNUNG", "RECHNUNGEN",
        "RECHNUNGSNR", "RECHNUNGSNUMMER", "RE", "RG", "RGNR", "RENR", "FACTUUR",
        "FACTURE", "FACTURA", "FAKTURA", "BILL", "REF", "REFERENCE", "BELEG",
    }
)  # fmt: skip
# Words and marks that may sit between the keyword and the number.
FILLERS = frozenset({"NO", "NR", "NUMBER", "NUMMER", "N", "NUM"})
# What joins several numbers in a list.
LIST_JOINS = frozenset({",", ";", "&", "+", "/", "AND", "UND", "EN", "ET"})
_TOKENS = re.compile(r"[A-Z]+|\d+|[,;&+/]")
MAX_NUMBERS = 20  # a text naming more invoices than this is not read as a list


@dataclass
class TextReferences:
    """What a remittance text names: RF reference bodies and invoice numbers after
    a keyword (``numbers``) or standing alone (``bare``), each as digit strings
    or exact tokens."""

    rf_bodies: list[str] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    bare: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.rf_bodies or self.numbers or self.bare)


def read_references(*texts: str) -> TextReferences:
    found = TextReferences()
    text = " ".join(t for t in texts if t).upper()
    found.rf_bodies = references_in_text(text)
    # Words as written (e.g. an imported invoice numbered "2024/0017-A").
    found.words = [
        word
        for word in (w.strip(".,;:()[]") for w in text.split())
        if len(word) >= 4 and any(c.isdigit() for c in word)
    ][:MAX_NUMBERS]
    tokens = _TOKENS.findall(_without_valid_rf(text, found.rf_bodies))
    _walk(tokens, found)
    return found


def _without_valid_rf(text: str, bodies: list[str]) -> str:
    # A valid RF reference is read whole; its digits must not be read again as a
    # loose number (its check digits would name another invoice). A reference
    # with wrong check digits stays in: the invoice number in it is still read.
    if not bodies:
        return text
    for body in bodies:
        spaced = r"\s*".join(re.escape(char) for char in body)
        text = re.sub(rf"R\s*F\s*\d\s*\d\s*{spaced}", " ", text)
    return text


def _walk(tokens: list[str], found: TextReferences) -> None:
    index, after_keyword = 0, False
    while index < len(tokens):
        token = tokens[index]
        if token in KEYWORDS or _keyword_glued(token):
            after_keyword = True
        elif token in FILLERS:
            pass
        elif token.isdigit():
            digits, index = _digits_joined_by_spaces(tokens, index)
            target = found.numbers if after_keyword else found.bare
            if after_keyword or len(digits) >= 4:
                target.append(digits)
            continue
        elif token in LIST_JOINS:
            pass  # a list goes on: "INV 17, 18 and 21"
        else:
            after_keyword = False
        index += 1


def _keyword_glued(token: str) -> bool:
    return any(token.startswith(k) and token[len(k) :] in FILLERS for k in KEYWORDS)


def _digits_joined_by_spaces(tokens: list[str], index: int) -> tuple[str, int]:
    # "000 123" is one number written with a space (the tokenizer dropped it);
    # numbers in a list are separated by a comma or a word instead.
    digits = tokens[index]
    index += 1
    while index < len(tokens) and tokens[index].isdigit():
        digits += tokens[index]
        index += 1
    return digits, index


def invoice_number_candidates(
    references: TextReferences, *, prefix: str, padding: int
) -> dict[str, str]:
    """Invoice numbers the references may stand for → how they were found
    ("rf", "number" or "bare"); the strongest kind wins."""
    candidates: dict[str, str] = {}
    letters = re.sub(r"[^0-9A-Z]", "", prefix.upper())

    def add(number: str, kind: str) -> None:
        if number and (
            number not in candidates or _STRENGTH[kind] > _STRENGTH[candidates[number]]
        ):
            candidates[number] = kind

    for body in references.rf_bodies:
        add(body, "rf")
        if letters and body.startswith(letters) and body[len(letters) :].isdigit():
            add(f"{prefix}{body[len(letters) :]}", "rf")
    for kind, numbers in (("number", references.numbers), ("bare", references.bare)):
        for digits in numbers[:MAX_NUMBERS]:
            value = int(digits)
            add(f"{prefix}{value:0{padding}d}", kind)
            add(f"{prefix}{digits}", kind)
    for word in references.words:
        add(word, "bare")
    return candidates


_STRENGTH = {"bare": 0, "number": 1, "rf": 2}
