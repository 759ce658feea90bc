"""The customer's forms. Field errors name the field; nothing typed is lost."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from collecting.models import Dispute
from o2c.numbers import OrgDecimalField


class SignInForm(forms.Form):
    email = forms.EmailField(label=_("Your email address"), max_length=254)


class StatementForm(forms.Form):
    start = forms.DateField(
        label=_("From"), widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))
    currency = forms.ChoiceField(label=_("Currency"))

    def __init__(self, *args, currencies: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = [(c, c) for c in currencies]

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            self.add_error("end", _("The period ends before it starts."))
        return data


class DisputeForm(forms.Form):
    reason = forms.ChoiceField(
        label=_("What is wrong?"), choices=Dispute.Reason.choices
    )
    lines = forms.MultipleChoiceField(
        label=_("Which lines? (none ticked: the whole invoice)"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    message = forms.CharField(
        label=_("Your message"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=4000,
    )
    attachment = forms.FileField(
        label=_("Attachment (PDF, PNG or JPEG, optional)"), required=False
    )

    def __init__(self, *args, lines, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lines"].choices = [
            (str(line.pk), f"{line.position}. {line.description}") for line in lines
        ]

    def clean_attachment(self):
        upload = self.cleaned_data.get("attachment")
        if upload is None:
            return None
        limit = settings.PORTAL_ATTACHMENT_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                _("The file is too large: at most %(limit)s MB.")
                % {"limit": f"{limit / 1_000_000:g}"}
            )
        name = upload.name.lower()
        suffix = name[name.rfind(".") :] if "." in name else ""
        allowed = settings.PORTAL_ATTACHMENT_TYPES
        if suffix not in allowed or not _looks_like(upload, allowed[suffix]):
            raise forms.ValidationError(_("Attach a PDF, PNG or JPEG file."))
        return upload


_MAGIC = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}


def _looks_like(upload, content_type: str) -> bool:
    """The file's first bytes are those of its type (the name alone proves
    nothing)."""
    head = upload.read(8)
    upload.seek(0)
    return any(head.startswith(magic) for magic in _MAGIC[content_type])


class PromiseForm(forms.Form):
    promised_date = forms.DateField(
        label=_("I will pay on"), widget=forms.DateInput(attrs={"type": "date"})
    )
    amount = OrgDecimalField(label=_("Amount"), min_value=0, decimal_places=3)

    def __init__(self, *args, today, window_days: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today
        self.window_days = window_days
        self.fields["promised_date"].widget.attrs.update(
            min=today.isoformat(), max=(today + timedelta(days=window_days)).isoformat()
        )

    def clean_promised_date(self):
        day = self.cleaned_data["promised_date"]
        if day < self.today:
            raise forms.ValidationError(_("Choose today or a later day."))
        if day > self.today + timedelta(days=self.window_days):
            raise forms.ValidationError(
                _("Choose a day within the next %(days)s days.")
                % {"days": self.window_days}
            )
        return day


class RemittanceForm(forms.Form):
    invoices = forms.MultipleChoiceField(
        label=_("Invoices paid"), widget=forms.CheckboxSelectMultiple
    )
    amount = OrgDecimalField(
        label=_("Amount transferred"), min_value=0, decimal_places=3
    )
    paid_on = forms.DateField(
        label=_("Date of the transfer"), widget=forms.DateInput(attrs={"type": "date"})
    )
    reference = forms.CharField(
        label=_("Reference of the transfer (optional)"), required=False, max_length=140
    )
    note = forms.CharField(
        label=_("Note (optional)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, invoices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["invoices"].choices = [
            (str(invoice.pk), invoice.number) for invoice in invoices
        ]
