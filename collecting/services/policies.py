"""Dunning policies and their steps, templates, settings and policy assignment."""

from __future__ import annotations

from copy import copy
from datetime import date, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy

from collecting.models import (
    CollectingSettings,
    DunningPolicy,
    DunningStep,
    EmailTemplate,
)
from collecting.selectors import open_invoices_of, paused_invoices
from collecting.services import rendering
from collecting.services.worklist import profile_for
from invoicing.portal import public_url
from o2c.errors import ConflictError, DomainError
from o2c.services import Actor, audit_record
from o2c.tenancy import current_organization
from orders.models import Contact, Customer

POLICY_FIELDS = {
    "name", "description", "is_default", "segments", "min_days_between_notices",
    "fee_period_days",
}  # fmt: skip
POLICY_RANGES = {
    "min_days_between_notices": (
        0,
        90,
        gettext_lazy("Give 0 to 90 days between two notices."),
    ),
    "fee_period_days": (0, 366, gettext_lazy("Give a fee period of 0 to 366 days.")),
}
STEP_FIELDS = {
    "name", "offset_days", "channel", "attach_invoices", "subject", "body",
    "translations", "fee_amount", "interest_rate", "minimum_amount",
}  # fmt: skip
TEMPLATE_FIELDS = {"name", "subject", "body", "translations"}
SETTINGS_FIELDS = {
    "dunning_hour", "promise_grace_days", "plan_grace_days", "stale_sending_minutes",
}  # fmt: skip
# Grace as long as a promise's own may be (60 days); a notice left "sending" for a
# week is long past needing a person to check it.
SETTINGS_RANGES = {
    "dunning_hour": (0, 23, gettext_lazy("The hour is 0 to 23, local time.")),
    "promise_grace_days": (0, 60, gettext_lazy("Grace is 0 to 60 days.")),
    "plan_grace_days": (0, 60, gettext_lazy("Grace is 0 to 60 days.")),
    "stale_sending_minutes": (
        1,
        7 * 24 * 60,
        gettext_lazy("Give 1 minute to 7 days (10080)."),
    ),
}


def _unknown(fields: dict, allowed: set[str]) -> None:
    unknown = set(fields) - allowed
    if unknown:
        raise DomainError("unknown_field", f"Unknown: {sorted(unknown)}")


def _save(obj, *, field: str, message: str) -> None:
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError:
        raise ConflictError("duplicate", message, field=field) from None


@transaction.atomic
def policy_create(*, actor: Actor, steps: list[dict] = (), **fields) -> DunningPolicy:
    _unknown(fields, POLICY_FIELDS)
    policy = DunningPolicy(organization=current_organization(), **fields)
    _clean_policy(policy)
    if policy.is_default:
        DunningPolicy.objects.filter(is_default=True).update(is_default=False)
    _save(
        policy,
        field="name",
        message=gettext("A policy named '%(name)s' exists.") % {"name": policy.name},
    )
    for index, step in enumerate(steps):
        step_create(policy=policy, actor=actor, _field=f"steps[{index}]", **step)
    audit_record(actor=actor, obj=policy, action="created")
    return policy


@transaction.atomic
def policy_update(*, policy: DunningPolicy, actor: Actor, **fields) -> DunningPolicy:
    _unknown(fields, POLICY_FIELDS)
    policy = DunningPolicy.objects.select_for_update().get(pk=policy.pk)
    for name, value in fields.items():
        setattr(policy, name, value)
    _clean_policy(policy)
    if policy.is_default:
        DunningPolicy.objects.exclude(pk=policy.pk).filter(is_default=True).update(
            is_default=False
        )
    _save(
        policy,
        field="name",
        message=gettext("A policy named '%(name)s' exists.") % {"name": policy.name},
    )
    audit_record(actor=actor, obj=policy, action="updated", data=_jsonable(fields))
    return policy


@transaction.atomic
def policy_delete(*, policy: DunningPolicy, actor: Actor) -> None:
    if DunningStep.objects.filter(policy=policy, notices__isnull=False).exists():
        raise ConflictError(
            "in_use",
            gettext(
                "Notices were issued under this policy; keep it (make another default)."
            ),
        )
    audit_record(actor=actor, obj=policy, action="deleted")
    policy.delete()


def _clean_policy(policy: DunningPolicy) -> None:
    if not (policy.name or "").strip():
        raise DomainError("required", gettext("Name is required."), field="name")
    for name, (low, high, message) in POLICY_RANGES.items():
        value = getattr(policy, name)
        if not isinstance(value, int) or not low <= value <= high:
            raise DomainError("invalid", str(message), field=name)
    if not isinstance(policy.segments, list) or not all(
        isinstance(s, str) for s in policy.segments
    ):
        raise DomainError(
            "invalid", gettext("Segments are a list of names."), field="segments"
        )
    taken = {}
    for other in DunningPolicy.objects.exclude(pk=policy.pk):
        for segment in other.segments or []:
            taken[segment] = other.name
    clash = [s for s in policy.segments if s in taken]
    if clash:
        raise ConflictError(
            "segment_taken",
            gettext("Segment '%(segment)s' already belongs to policy '%(policy)s'.")
            % {"segment": clash[0], "policy": taken[clash[0]]},
            field="segments",
        )


@transaction.atomic
def step_create(
    *, policy: DunningPolicy, actor: Actor, _field: str = "", **fields
) -> DunningStep:
    _unknown(fields, STEP_FIELDS)
    step = DunningStep(organization=current_organization(), policy=policy, **fields)
    _clean_step(step, prefix=f"{_field}." if _field else "")
    _save(
        step,
        field=f"{_field}.offset_days" if _field else "offset_days",
        message=gettext("The policy already has a step at %(days)s days.")
        % {"days": f"{step.offset_days:+d}"},
    )
    audit_record(actor=actor, obj=step, action="created")
    return step


@transaction.atomic
def step_update(*, step: DunningStep, actor: Actor, **fields) -> DunningStep:
    _unknown(fields, STEP_FIELDS)
    step = DunningStep.objects.select_for_update().get(pk=step.pk)
    for name, value in fields.items():
        setattr(step, name, value)
    _clean_step(step)
    _save(
        step,
        field="offset_days",
        message=gettext("The policy already has a step at %(days)s days.")
        % {"days": f"{step.offset_days:+d}"},
    )
    audit_record(actor=actor, obj=step, action="updated", data=_jsonable(fields))
    return step


@transaction.atomic
def step_delete(*, step: DunningStep, actor: Actor) -> None:
    if step.items.exists():
        raise ConflictError(
            "in_use", gettext("Notices were issued at this step; it cannot be deleted.")
        )
    audit_record(actor=actor, obj=step, action="deleted")
    step.delete()


def _clean_step(step: DunningStep, prefix: str = "") -> None:
    if not (step.name or "").strip():
        raise DomainError(
            "required", gettext("Name is required."), field=f"{prefix}name"
        )
    if step.channel not in DunningStep.Channel.values:
        raise DomainError(
            "invalid_choice",
            gettext("Unknown channel '%(channel)s'.") % {"channel": step.channel},
            field=f"{prefix}channel",
        )
    if abs(int(step.offset_days)) > 3650:
        raise DomainError(
            "invalid_days",
            gettext("Offset must be within ten years."),
            field=f"{prefix}offset_days",
        )
    for name in ("fee_amount", "interest_rate", "minimum_amount"):
        value = getattr(step, name)
        if value is not None and Decimal(value) < 0:
            raise DomainError(
                "invalid_amount",
                gettext("Must not be negative."),
                field=f"{prefix}{name}",
            )
    writes = step.channel in (DunningStep.Channel.EMAIL, DunningStep.Channel.LETTER)
    if writes and not (step.subject.strip() and step.body.strip()):
        raise DomainError(
            "required",
            gettext("An email or letter step needs a subject and a body."),
            field=f"{prefix}body",
        )
    _clean_texts(step, prefix)


def _clean_texts(source, prefix: str = "") -> None:
    if not isinstance(source.translations, dict):
        raise DomainError(
            "invalid", gettext("Translations map a language to a subject and body."),
            field=f"{prefix}translations",
        )  # fmt: skip
    texts = [(source.subject, "subject"), (source.body, "body")]
    for language, variant in source.translations.items():
        if not isinstance(variant, dict) or not all(
            isinstance(variant.get(part, ""), str) for part in ("subject", "body")
        ):
            raise DomainError(
                "invalid",
                gettext("Translation '%(language)s' must hold a subject and a body.")
                % {"language": language},
                field=f"{prefix}translations",
            )
        texts += [
            (variant.get("subject", ""), f"translations.{language}.subject"),
            (variant.get("body", ""), f"translations.{language}.body"),
        ]
    for text, name in texts:
        rendering.check_texts(text or "", field=f"{prefix}{name}")


@transaction.atomic
def template_create(*, actor: Actor, **fields) -> EmailTemplate:
    _unknown(fields, TEMPLATE_FIELDS)
    template = EmailTemplate(organization=current_organization(), **fields)
    if not template.name.strip() or not template.subject.strip():
        raise DomainError(
            "required", gettext("Name and subject are required."), field="name"
        )
    _clean_texts(template)
    _save(
        template,
        field="name",
        message=gettext("A template '%(name)s' exists.") % {"name": template.name},
    )
    audit_record(actor=actor, obj=template, action="created")
    return template


@transaction.atomic
def settings_update(*, actor: Actor, **fields) -> CollectingSettings:
    _unknown(fields, SETTINGS_FIELDS)
    current, _ = CollectingSettings.objects.get_or_create(
        organization=current_organization()
    )
    for name, value in fields.items():
        setattr(current, name, value)
    for name, (low, high, message) in SETTINGS_RANGES.items():
        if not low <= int(getattr(current, name)) <= high:
            raise DomainError("invalid", str(message), field=name)
    current.save()
    audit_record(actor=actor, obj=current, action="updated", data=_jsonable(fields))
    return current


@transaction.atomic
def policy_assign(*, customer: Customer, policy: DunningPolicy | None, actor: Actor):
    profile = profile_for(customer)
    previous = profile.policy_id
    profile.policy = policy
    profile.save(update_fields=["policy"])
    audit_record(
        actor=actor,
        obj=customer,
        action="policy_assigned",
        data={"from": previous, "to": policy.pk if policy else None},
    )
    return profile


def step_preview(
    *,
    step: DunningStep | EmailTemplate,
    customer: Customer,
    as_of: date | None = None,
    language: str | None = None,
) -> rendering.Rendered:
    """The message of a step (or a collector's template) for a real customer and
    its open invoices, as the sending renders it (sends nothing). ``language``
    renders another language's text than the customer's own."""
    organization = current_organization()
    as_of = as_of or organization.today()
    invoices = _invoices_listed(step, customer, as_of)
    currency = invoices[0].currency if invoices else customer.currency
    lines = [
        rendering.Line(
            invoice_id=invoice.pk,
            number=invoice.number or "",
            invoice_date=invoice.invoice_date,
            due_date=invoice.due_date,
            days_overdue=(as_of - invoice.due_date).days,
            open_amount=invoice.open_amount,
        )
        for invoice in invoices
        if invoice.currency == currency
    ]
    is_step = isinstance(step, DunningStep)
    language = customer.language if language is None else language
    context = rendering.notice_context(
        organization=organization,
        customer=customer,
        contacts=list(Contact.objects.filter(customer=customer)),
        lines=lines,
        currency=currency,
        fee=(step.fee_amount or Decimal(0)) if is_step else Decimal(0),
        notice_date=as_of,
        step_name=step.name if is_step else "",
        language=language,
        # The preview shows where the link goes; sending makes a real one.
        portal_url=public_url(reverse("portal:home")),
    )
    return rendering.TemplateCache().render(step, language, context)


def _invoices_listed(step, customer: Customer, as_of: date) -> list:
    """The invoices a notice to ``customer`` lists today: those not paused that
    reached the policy's first step (a collector's email: the overdue ones).
    With none, all its open invoices, so the preview still shows a text."""
    invoices = list(open_invoices_of(customer))
    paused = paused_invoices(invoice_ids=[invoice.pk for invoice in invoices])
    chased = [invoice for invoice in invoices if invoice.pk not in paused]
    if isinstance(step, DunningStep) and step.policy_id:
        first_offset = min(
            DunningStep.objects.filter(policy_id=step.policy_id).values_list(
                "offset_days", flat=True
            ),
            default=0,
        )
        reached = as_of - timedelta(days=first_offset)
    else:
        reached = as_of - timedelta(days=1)
    listed = [invoice for invoice in chased if invoice.due_date <= reached]
    return listed or invoices


def draft_texts(
    source: DunningStep | EmailTemplate, *, language: str, subject: str, body: str
) -> DunningStep | EmailTemplate:
    """An unsaved copy of ``source`` with ``language``'s texts as typed (English
    is the plain subject and body, the fallback of every language); refused,
    naming the field, when a text does not compile or names an unknown value."""
    prefix = "" if language == "en" else f"translations.{language}."
    rendering.check_texts(subject, field=f"{prefix}subject")
    rendering.check_texts(body, field=f"{prefix}body")
    draft = copy(source)
    draft.pk = None  # never saved, never the cached template of the saved row
    if language == "en":
        draft.subject, draft.body = subject, body
    else:
        draft.translations = {
            **(source.translations or {}),
            language: {"subject": subject, "body": body},
        }
    return draft


def texts_update(
    *,
    source: DunningStep | EmailTemplate,
    texts: dict[str, tuple[str, str]],
    actor: Actor,
):
    """Save a step's or template's texts per language (``{"en": (subject, body),
    "de": …}``); a translation left empty is removed (the English text is sent
    instead). Other fields and other languages stay as they are."""
    translations = dict(source.translations or {})
    fields = {}
    for language, (subject, body) in texts.items():
        if language == "en":
            fields.update(subject=subject, body=body)
        elif subject.strip() or body.strip():
            translations[language] = {"subject": subject, "body": body}
        else:
            translations.pop(language, None)
    fields["translations"] = translations
    if isinstance(source, DunningStep):
        return step_update(step=source, actor=actor, **fields)
    return template_update(template=source, actor=actor, **fields)


@transaction.atomic
def template_update(*, template: EmailTemplate, actor: Actor, **fields):
    _unknown(fields, TEMPLATE_FIELDS)
    template = EmailTemplate.objects.select_for_update().get(pk=template.pk)
    for name, value in fields.items():
        setattr(template, name, value)
    if not template.name.strip() or not template.subject.strip():
        raise DomainError("required", "Name and subject are required.", field="subject")
    _clean_texts(template)
    _save(template, field="name", message=f"A template '{template.name}' exists.")
    audit_record(actor=actor, obj=template, action="updated", data=_jsonable(fields))
    return template


# The standard policy's texts, in English (the fallback) and German (customers
# whose language is "de"). The German texts list the invoices themselves rather
# than through ``invoices_table``, whose column headings are English. A fee
# sentence appears only when the notice carries a fee: ``total_with_fee`` then
# differs from ``total`` (both are formatted the same way).
_DE_INVOICES = (
    "{% for invoice in invoices %}- Rechnung {{ invoice.number }} vom "
    "{{ invoice.invoice_date }}, fällig am {{ invoice.due_date }}"
    "{% if invoice.days_overdue > 0 %} ({{ invoice.days_overdue }} Tage überfällig)"
    "{% endif %}: {{ invoice.open_amount }} {{ currency }}\n{% endfor %}"
)
_DE_GREETING = "Sehr geehrte Damen und Herren,\n\n"
_DE_CLOSING = "\n\nMit freundlichen Grüßen\n{{ organization.name }}"
_DE_FEE = (
    "{% if total_with_fee != total %}Für diese Mahnung berechnen wir eine "
    "Mahngebühr von {{ fee }} {{ currency }}. Bitte überweisen Sie insgesamt "
    "{{ total_with_fee }} {{ currency }}.{% else %}Bitte überweisen Sie "
    "{{ total }} {{ currency }}.{% endif %}"
)
_EN_FEE = (
    "{% if total_with_fee != total %}A reminder fee of {{ fee }} {{ currency }} "
    "has been charged. Please pay {{ total_with_fee }} {{ currency }} now."
    "{% else %}Please pay {{ total }} {{ currency }} now.{% endif %}"
)

# The customer's link into the portal (rendering's ``portal_url``).
_EN_PORTAL = (
    "{% if portal_url %}See your invoices, pay, dispute or promise a payment date "
    "online: {{ portal_url }}{% endif %}"
)
_DE_PORTAL = (
    "{% if portal_url %}Ihre Rechnungen ansehen, bezahlen, beanstanden oder einen "
    "Zahlungstermin zusagen: {{ portal_url }}{% endif %}"
)

STANDARD_STEPS = [
    {
        "name": "Courtesy reminder",
        "offset_days": -3,
        "channel": DunningStep.Channel.EMAIL,
        "attach_invoices": True,
        "subject": "Upcoming payment: {{ invoices|length }} invoice(s) due soon",
        "body": (
            "Dear {{ contact.name }},\n\nA friendly reminder that the following "
            "invoices from {{ organization.name }} fall due shortly:\n\n"
            "{{ invoices_table }}\n\nTotal: {{ total }} {{ currency }}\n\n"
            "{{ payment_instructions }}\n\n" + _EN_PORTAL + "\n\nKind regards,\n"
            "{{ organization.name }}"
        ),
        "translations": {
            "de": {
                "subject": "Hinweis: {{ invoices|length }} Rechnung(en) bald fällig",
                "body": (
                    _DE_GREETING + "wir möchten Sie freundlich darauf hinweisen, "
                    "dass folgende Rechnungen von {{ organization.name }} in Kürze "
                    "fällig werden:\n\n" + _DE_INVOICES + "\nSumme: {{ total }} "
                    "{{ currency }}\n\n{{ payment_instructions }}\n\n"
                    + _DE_PORTAL
                    + _DE_CLOSING
                ),
            }
        },
    },
    {
        "name": "First reminder",
        "offset_days": 7,
        "channel": DunningStep.Channel.EMAIL,
        "subject": "Payment reminder: {{ total }} {{ currency }} overdue",
        "body": (
            "Dear {{ contact.name }},\n\nOur records show these invoices as unpaid "
            "({{ days_overdue }} days overdue at most):\n\n{{ invoices_table }}\n\n"
            "Total overdue: {{ total }} {{ currency }}\n\n{{ payment_instructions }}"
            "\n\n" + _EN_PORTAL + "\n\n"
            "If you have already paid, please ignore this message.\n\n"
            "{{ organization.name }}"
        ),
        "translations": {
            "de": {
                "subject": "Zahlungserinnerung: {{ total }} {{ currency }} offen",
                "body": (
                    _DE_GREETING + "sicher ist es Ihrer Aufmerksamkeit entgangen: "
                    "Folgende Rechnungen sind nach unserer Buchhaltung noch nicht "
                    "beglichen:\n\n" + _DE_INVOICES + "\nOffener Betrag: {{ total }} "
                    "{{ currency }}\n\nBitte überweisen Sie den Betrag in den "
                    "nächsten Tagen.\n\n{{ payment_instructions }}\n\n"
                    + _DE_PORTAL
                    + "\n\nSollten Sie "
                    "die Zahlung bereits veranlasst haben, betrachten Sie dieses "
                    "Schreiben bitte als gegenstandslos." + _DE_CLOSING
                ),
            }
        },
    },
    {
        "name": "Second reminder",
        "offset_days": 21,
        "channel": DunningStep.Channel.EMAIL,
        "fee_amount": Decimal("5"),
        "subject": "Second reminder: {{ total }} {{ currency }} overdue",
        "body": (
            "Dear {{ contact.name }},\n\nDespite our reminder these invoices remain "
            "unpaid:\n\n{{ invoices_table }}\n\n" + _EN_FEE + "\n\n"
            "{{ payment_instructions }}\n\n"
            + _EN_PORTAL
            + "\n\n{{ organization.name }}"
        ),
        "translations": {
            "de": {
                "subject": "1. Mahnung: {{ total }} {{ currency }} überfällig",
                "body": (
                    _DE_GREETING + "trotz unserer Zahlungserinnerung sind folgende "
                    "Rechnungen weiterhin offen:\n\n"
                    + _DE_INVOICES
                    + "\n"
                    + _DE_FEE
                    + "\n\n{{ payment_instructions }}\n\n"
                    + _DE_PORTAL
                    + _DE_CLOSING
                ),
            }
        },
    },
    {
        "name": "Final notice",
        "offset_days": 35,
        "channel": DunningStep.Channel.LETTER,
        "subject": "Final notice before collection",
        "body": (
            "Dear {{ contact.name }},\n\nThe following invoices are now "
            "{{ days_overdue }} days overdue:\n\n{{ invoices_table }}\n\n"
            "Unless {{ total }} {{ currency }} reaches us within 10 days we will "
            "stop deliveries and pass the matter on.\n\n" + _EN_PORTAL + "\n\n"
            "{{ organization.name }}"
        ),
        "translations": {
            "de": {
                "subject": "Letzte Mahnung vor Übergabe an ein Inkassounternehmen",
                "body": (
                    _DE_GREETING + "folgende Rechnungen sind seit bis zu "
                    "{{ days_overdue }} Tagen überfällig:\n\n"
                    + _DE_INVOICES
                    + "\nGeht der Betrag von {{ total }} {{ currency }} nicht "
                    "innerhalb von 10 Tagen bei uns ein, stellen wir weitere "
                    "Lieferungen ein und übergeben die Forderung ohne weitere "
                    "Ankündigung einem Inkassounternehmen.\n\n"
                    "{{ payment_instructions }}\n\n" + _DE_PORTAL + _DE_CLOSING
                ),
            }
        },
    },
    {
        "name": "Collector call",
        "offset_days": 45,
        "channel": "call_task",
        "subject": "Call {{ customer.name }}: {{ total }} {{ currency }} overdue",
        "body": "Up to {{ days_overdue }} days overdue after the final notice.",
        "translations": {
            "de": {
                "subject": "{{ customer.name }} anrufen: {{ total }} {{ currency }} "
                "überfällig",
                "body": "Bis zu {{ days_overdue }} Tage überfällig nach der "
                "letzten Mahnung.",
            }
        },
    },
    {
        "name": "Credit hold",
        "offset_days": 60,
        "channel": "credit_hold",
        "subject": "Credit hold: {{ total }} {{ currency }} overdue",
        "body": "Deliveries stop until the overdue invoices are paid.",
        "translations": {
            "de": {
                "subject": "Liefersperre: {{ total }} {{ currency }} überfällig",
                "body": "Lieferungen nur noch nach Ausgleich der überfälligen "
                "Rechnungen.",
            }
        },
    },
    {
        "name": "Agency review",
        "offset_days": 90,
        "channel": "agency_review",
        "subject": "Review for a collection agency: {{ total }} {{ currency }}",
        "body": "Up to {{ days_overdue }} days overdue; decide whether to hand over.",
        "translations": {
            "de": {
                "subject": "Prüfung Inkassoübergabe: {{ total }} {{ currency }}",
                "body": "Bis zu {{ days_overdue }} Tage überfällig; über die "
                "Übergabe an ein Inkassounternehmen entscheiden.",
            }
        },
    },
]


@transaction.atomic
def standard_policy_create(*, actor: Actor, name: str = "Standard") -> DunningPolicy:
    """A sensible default policy an organization starts from and edits."""
    return policy_create(
        actor=actor, name=name, is_default=True, steps=[dict(s) for s in STANDARD_STEPS]
    )


def _jsonable(fields: dict) -> dict:
    return {
        key: value
        if isinstance(value, str | int | bool | list | dict | None)
        else str(value)
        for key, value in fields.items()
    }
