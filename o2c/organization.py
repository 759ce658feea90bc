"""Organization settings: name, base currency, time zone, locale, date format,
payment instructions and the logo printed on documents.

The base currency is what stored FX rates are quoted in, so it cannot change while
rates are stored: every rate would silently mean something else.

Logos are PNG, JPEG or SVG up to :data:`LOGO_MAX_BYTES`. The type is read from the
file's content, never from its name or the browser's word. Raster images must open
in Pillow within :data:`LOGO_MAX_PIXELS` (no decompression bombs). An SVG is parsed
without entities or network access and refused if it could run or load anything:
scripts, event handler attributes, ``foreignObject``, or links other than to its
own ``#fragments``. It is then served with a sandboxing Content-Security-Policy
(see ``o2c.pages.organization_logo``), and documents fetch nothing else anyway.
"""

from __future__ import annotations

import io
import re
import secrets
import zoneinfo

from babel import Locale, UnknownLocaleError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext as _
from lxml import etree

from o2c.errors import ConflictError, DomainError
from o2c.models import FxRate, Organization
from o2c.money import validate_currency
from o2c.services import Actor, audit_record

LOGO_MAX_BYTES = 512 * 1024
LOGO_MAX_PIXELS = 4000 * 4000
LOGO_TYPES = {"png": "image/png", "jpg": "image/jpeg", "svg": "image/svg+xml"}
LOCALES = [
    ("en", "English"),
    ("en-GB", "English (United Kingdom)"),
    ("de", "Deutsch"),
    ("de-AT", "Deutsch (Österreich)"),
    ("de-CH", "Deutsch (Schweiz)"),
    ("fr", "Français"),
    ("nl", "Nederlands"),
    ("it", "Italiano"),
    ("es", "Español"),
]
SETTINGS_FIELDS = (
    "name",
    "base_currency",
    "timezone",
    "locale",
    "date_format",
    "legal_name",
    "address",
    "tax_id",
    "email",
    "phone",
    "payment_instructions",
)
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"


@transaction.atomic
def organization_update(
    *, organization: Organization, actor: Actor, **values
) -> Organization:
    """Change the settings given in ``values``; every error names its field."""
    cleaned = _cleaned(organization, values)
    locked = Organization.objects.select_for_update().get(pk=organization.pk)
    changes = {
        name: [str(getattr(locked, name)), str(value)]
        for name, value in cleaned.items()
        if getattr(locked, name) != value
    }
    if not changes:
        return locked
    for name, value in cleaned.items():
        setattr(locked, name, value)
    locked.save(update_fields=list(cleaned))
    audit_record(actor=actor, obj=locked, action="organization_changed", data=changes)
    return locked


def _cleaned(organization: Organization, values: dict) -> dict:
    unknown = set(values) - set(SETTINGS_FIELDS)
    if unknown:
        raise DomainError(
            "invalid",
            _("Unknown setting %(names)s.") % {"names": sorted(unknown)[0]},
            field="settings",
        )
    cleaned = {name: (value or "").strip() for name, value in values.items()}
    if "name" in cleaned and not cleaned["name"]:
        raise DomainError("required", _("Enter the organization's name."), field="name")
    if "base_currency" in cleaned:
        cleaned["base_currency"] = _base_currency(
            organization, cleaned["base_currency"]
        )
    if "timezone" in cleaned and cleaned["timezone"] not in _timezones():
        raise DomainError(
            "invalid_timezone",
            _(
                "Unknown time zone '%(value)s': use a name like Europe/Berlin or "
                "America/New_York."
            )
            % {"value": cleaned["timezone"]},
            field="timezone",
        )
    if "locale" in cleaned:
        cleaned["locale"] = _locale(cleaned["locale"])
    if "date_format" in cleaned and cleaned["date_format"] not in (
        Organization.DateFormat.values
    ):
        raise DomainError(
            "invalid_choice", _("Choose one of the date formats."), field="date_format"
        )
    for name in ("name", "legal_name", "tax_id", "phone"):
        limit = Organization._meta.get_field(name).max_length
        if name in cleaned and len(cleaned[name]) > limit:
            raise DomainError(
                "too_long",
                _("At most %(limit)s characters.") % {"limit": limit},
                field=name,
            )
    if cleaned.get("email"):
        from django.core.exceptions import ValidationError
        from django.core.validators import validate_email

        try:
            validate_email(cleaned["email"])
        except ValidationError:
            raise DomainError(
                "invalid_email",
                _("'%(value)s' is not an email address.") % {"value": cleaned["email"]},
                field="email",
            ) from None
    return cleaned


def _timezones() -> set[str]:
    return zoneinfo.available_timezones()


def _base_currency(organization: Organization, value: str) -> str:
    try:
        currency = validate_currency(value)
    except DomainError as error:
        raise DomainError(error.code, error.message, field="base_currency") from None
    if currency != organization.base_currency:
        stored = FxRate.unscoped.filter(organization=organization).count()
        if stored:
            raise ConflictError(
                "fx_rates_stored",
                _(
                    "%(stored)s FX rate(s) are stored against %(base_currency)s; "
                    "delete them before changing the base currency, then enter rates "
                    "against the new one."
                )
                % {"stored": stored, "base_currency": organization.base_currency},
                field="base_currency",
            )
    return currency


def _locale(value: str) -> str:
    try:
        Locale.parse(value.replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        raise DomainError(
            "invalid_locale",
            _("Unknown locale '%(value)s': use a code like en, en-GB or de.")
            % {"value": value},
            field="locale",
        ) from None
    return value


# --- logo ---------------------------------------------------------------------------


# Documents name a logo by this scheme and its storage name; the PDF fetcher
# (invoicing.documents) reads it through the storage, local or S3, and nothing
# but a name of this form.
LOGO_SCHEME = "o2c-logo"
LOGO_NAME = re.compile(r"^logos/[A-Za-z0-9][A-Za-z0-9._-]*$")


def logo_uri(name: str) -> str:
    return f"{LOGO_SCHEME}:{name}"


def logo_content(uri: str) -> bytes:
    """The stored logo an :func:`logo_uri` names; PermissionError for any other."""
    scheme, _, name = uri.partition(":")
    if scheme.lower() != LOGO_SCHEME or not LOGO_NAME.match(name) or ".." in name:
        raise PermissionError(f"Documents may not load {uri[:100]!r}.")
    storage = Organization._meta.get_field("logo").storage
    with storage.open(name, "rb") as file:
        return file.read()


@transaction.atomic
def organization_logo_set(
    *, organization: Organization, content: bytes, actor: Actor
) -> Organization:
    """Store a checked logo under a fresh name (old PDFs' caches never mix)."""
    extension = logo_type(content)
    locked = Organization.objects.select_for_update().get(pk=organization.pk)
    previous = locked.logo.name if locked.logo else ""
    name = f"{locked.pk}-{secrets.token_hex(8)}.{extension}"
    locked.logo.save(name, ContentFile(content), save=False)
    locked.save(update_fields=["logo"])
    if previous:
        transaction.on_commit(lambda: locked.logo.storage.delete(previous))
    audit_record(
        actor=actor,
        obj=locked,
        action="organization_logo_changed",
        data={"bytes": len(content), "type": LOGO_TYPES[extension]},
    )
    return locked


@transaction.atomic
def organization_logo_remove(*, organization: Organization, actor: Actor):
    locked = Organization.objects.select_for_update().get(pk=organization.pk)
    if not locked.logo:
        return locked
    previous = locked.logo.name
    locked.logo = ""
    locked.save(update_fields=["logo"])
    transaction.on_commit(lambda: locked.logo.storage.delete(previous))
    audit_record(actor=actor, obj=locked, action="organization_logo_removed")
    return locked


def logo_type(content: bytes) -> str:
    """``png``, ``jpg`` or ``svg`` for an acceptable logo; an error otherwise."""
    if not content:
        raise DomainError("required", _("Choose an image file."), field="logo")
    if len(content) > LOGO_MAX_BYTES:
        raise DomainError(
            "too_large",
            _("The logo is %(size)s KB; at most %(limit)s KB.")
            % {
                "size": f"{len(content) // 1024:,}",
                "limit": LOGO_MAX_BYTES // 1024,
            },
            field="logo",
        )
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        _check_raster(content, "PNG")
        return "png"
    if content.startswith(b"\xff\xd8\xff"):
        _check_raster(content, "JPEG")
        return "jpg"
    _check_svg(content)
    return "svg"


def _check_raster(content: bytes, kind: str) -> None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(content)) as image:
            if image.format != kind:
                raise ValueError(image.format)
            if image.width * image.height > LOGO_MAX_PIXELS:
                raise DomainError(
                    "too_large",
                    _(
                        "The logo is %(width)s x %(height)s pixels; a logo needs far "
                        "fewer (e.g. 600 x 200)."
                    )
                    % {"width": image.width, "height": image.height},
                    field="logo",
                )
            image.verify()
    except DomainError:
        raise
    except Exception:  # Pillow raises many kinds for a broken file
        raise DomainError(
            "invalid_image",
            _("The file is not a readable %(kind)s image.") % {"kind": kind},
            field="logo",
        ) from None


def _check_svg(content: bytes) -> None:
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError:
        raise DomainError(
            "invalid_image",
            _("The logo must be a PNG, JPEG or SVG image."),
            field="logo",
        ) from None
    if root.tag != f"{{{SVG_NAMESPACE}}}svg":
        raise DomainError(
            "invalid_image",
            _("The logo must be a PNG, JPEG or SVG image."),
            field="logo",
        )
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue  # comments and processing instructions
        local = etree.QName(element).localname
        if local in ("script", "foreignObject", "iframe", "embed", "object"):
            raise _unsafe_svg(f"a <{local}> element")
        for attribute, value in element.attrib.items():
            name = etree.QName(attribute).localname
            if name.lower().startswith("on"):
                raise _unsafe_svg(f"an event handler ({name})")
            if attribute in ("href", XLINK_HREF) and not value.strip().startswith("#"):
                raise _unsafe_svg("a link to another file")
            if "url(" in value and "url(#" not in value.replace(" ", ""):
                raise _unsafe_svg("a reference to another file")
        if local == "style" and "@import" in (element.text or ""):
            raise _unsafe_svg("an @import")


def _unsafe_svg(what: str) -> DomainError:
    return DomainError(
        "unsafe_image",
        _("The SVG contains %(what)s; save it as a plain drawing or as PNG.")
        % {"what": what},
        field="logo",
    )
