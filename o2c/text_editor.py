"""The page that edits an email's texts: a tab per language, the placeholders
to insert, a live preview for a real customer.

Both editors (dunning steps and collectors' templates in ``collecting``, the
invoice email in ``invoicing``) build :class:`EditorPage` and render
``o2c/text_editor.html``; each renders its preview through the very service its
sending uses. Fields are named ``<language>-subject`` and ``<language>-body``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from o2c.errors import DomainError

LANGUAGES = [("en", _("English")), ("de", _("German")), ("fr", _("French"))]


@dataclass
class EditorPage:
    title: str
    back_url: str
    back_label: str
    save_url: str
    preview_url: str
    placeholders: list[str]
    loops: list[tuple[str, str]]  # (label, snippet) of list placeholders
    texts: dict[str, tuple[str, str]]  # language → (subject, body)
    note: str = ""
    active: str = "en"
    errors: dict[str, str] = field(default_factory=dict)
    message: str = ""

    def context(self, *, customer=None, customers=()) -> dict:
        languages = [
            {
                "code": code,
                "label": label,
                "subject": self.texts.get(code, ("", ""))[0],
                "body": self.texts.get(code, ("", ""))[1],
                "subject_error": self.errors.get(f"{code}-subject", ""),
                "body_error": self.errors.get(f"{code}-body", ""),
            }
            for code, label in LANGUAGES
        ]
        return {
            "editor": self,
            "languages": languages,
            "customer": customer,
            "customers": list(customers),
        }


def typed_texts(data) -> dict[str, tuple[str, str]]:
    return {
        code: (data.get(f"{code}-subject", ""), data.get(f"{code}-body", ""))
        for code, _ in LANGUAGES
    }


def active_language(data) -> str:
    language = data.get("language", "en")
    return language if language in dict(LANGUAGES) else "en"


def error_input(error: DomainError, language_of_field) -> str:
    """The input a service's error names: ``de-body`` for
    ``translations.de.body`` (steps) or ``de.body`` (the invoice email)."""
    name = error.field or ""
    part = name.rsplit(".", 1)[-1]
    if part not in ("subject", "body"):
        return ""
    return f"{language_of_field(name)}-{part}"
