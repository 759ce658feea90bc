"""Forms of the finance desk for invoices and credit notes.

As in ``orders.forms``: the forms read the input, the services decide. The field
types (dates, amounts, quantities) and the mapping of a service's error to the
input it names are shared with the order forms.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from orders.forms import (
    CURRENCY_INPUT,
    AmountField,
    BusinessDateField,
    LineFormSet,
    QuantityField,
    TaxRateField,
)


class InvoiceForm(forms.Form):
    invoice_date = BusinessDateField(label=gettext_lazy("Invoice date"))
    due_date = BusinessDateField(
        required=False,
        label=gettext_lazy("Due date"),
        help_text=gettext_lazy("Empty: from the customer's payment terms."),
    )
    currency = forms.CharField(
        widget=CURRENCY_INPUT,
        required=False,
        label=gettext_lazy("Currency"),
        help_text=gettext_lazy("Empty for the customer's account currency."),
    )
    customer_reference = forms.CharField(
        max_length=100,
        required=False,
        label=gettext_lazy("Customer reference (PO number)"),
    )
    notes = forms.CharField(
        required=False,
        label=gettext_lazy("Notes"),
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("Printed on the invoice."),
    )


class InvoiceLineForm(forms.Form):
    description = forms.CharField(max_length=300, label=gettext_lazy("Description"))
    quantity = QuantityField(label=gettext_lazy("Quantity"))
    unit_price = AmountField(label=gettext_lazy("Unit price"))
    tax_rate = TaxRateField(required=False, label=gettext_lazy("Tax %"))


INVOICE_LINE_FIELDS = ["description", "quantity", "unit_price", "tax_rate"]
InvoiceLineFormSet = forms.formset_factory(
    InvoiceLineForm, formset=LineFormSet, extra=0
)


class PerLineQuantities(forms.Form):
    """A form with one quantity input per line of a document (``{prefix}_{pk}``)."""

    line_prefix = "line"

    def __init__(self, *args, lines=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.document_lines = list(lines)
        for line in self.document_lines:
            self.fields[self.name_of(line)] = QuantityField(
                required=False,
                label=_("Quantity of line %(position)s") % {"position": line.position},
            )

    def name_of(self, line) -> str:
        return f"{self.line_prefix}_{line.pk}"

    def chosen_lines(self) -> list:
        """(line, quantity) of the lines given a quantity; empty or zero means the
        line is left out."""
        return [
            (line, self.cleaned_data[self.name_of(line)])
            for line in self.document_lines
            if self.cleaned_data.get(self.name_of(line)) not in (None, 0)
        ]

    def show_line_error(self, error, chosen) -> None:
        """``lines[i]`` of the service is the i-th chosen line."""
        self.domain_error = error.message
        for index, (line, _quantity) in enumerate(chosen):
            if (error.field or "").startswith(f"lines[{index}]"):
                self.add_error(self.name_of(line), error.message)
                return
        field = error.field if error.field in self.fields else None
        self.add_error(field, error.message)


class OrderInvoiceForm(PerLineQuantities):
    line_prefix = "bill"
    invoice_date = BusinessDateField(label=gettext_lazy("Invoice date"))
    notes = forms.CharField(
        required=False,
        label=gettext_lazy("Notes"),
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class IssueForm(forms.Form):
    email = forms.BooleanField(
        required=False,
        label=gettext_lazy("Email it to the customer's billing contacts"),
    )


class VoidForm(forms.Form):
    reason = forms.CharField(
        max_length=300, required=False, label=gettext_lazy("Reason")
    )
    void_date = BusinessDateField(
        required=False,
        label=gettext_lazy("Void date"),
        help_text=gettext_lazy("Empty for today; the ledger reversal's date."),
    )


class CreditNoteForm(PerLineQuantities):
    AMOUNT, LINES = "amount", "lines"
    line_prefix = "credit"

    credit_date = BusinessDateField(label=gettext_lazy("Credit date"))
    reason = forms.CharField(
        max_length=300,
        label=gettext_lazy("Reason"),
        help_text=gettext_lazy("Printed on the credit note; required."),
    )
    mode = forms.ChoiceField(
        choices=[
            (AMOUNT, gettext_lazy("An amount")),
            (LINES, gettext_lazy("Quantities of the invoice's lines")),
        ],
        widget=forms.RadioSelect,
        initial=AMOUNT,
        label=pgettext_lazy("credit note form", "Credit"),
    )
    amount = AmountField(required=False, label=gettext_lazy("Net amount to credit"))
    tax_rate = TaxRateField(required=False, label=gettext_lazy("Tax % on it"))

    def clean(self):
        data = super().clean()
        if data.get("mode") == self.AMOUNT and data.get("amount") is None:
            self.add_error("amount", _("Give the amount to credit."))
        return data
