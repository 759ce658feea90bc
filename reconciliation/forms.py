"""Forms of the cash desk: payments, their allocations, and write-offs.

As in ``orders.forms``: the forms read the input, the services decide (a positive
amount, a known currency, no more than the payment or the invoice can take, the
write-off limit) and their refusal is shown next to the input it names.
"""

from __future__ import annotations

import re
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from o2c.errors import DomainError
from o2c.money import quantize
from orders.forms import CURRENCY_INPUT, AmountField, BusinessDateField
from reconciliation.models import Payment

_ALLOCATION_FIELD = re.compile(r"^allocations\[(\d+)\]")


def oldest_first(invoices, amount: Decimal | None) -> dict[int, Decimal]:
    """The suggestion the clerk starts from: the cash goes to the invoices in the
    order given (oldest due first) until it is used up. Only a suggestion: the
    clerk edits it and the service checks what is submitted."""
    suggested, left = {}, amount or Decimal(0)
    for invoice in invoices:
        if left <= 0:
            break
        part = min(left, invoice.open_amount)
        suggested[invoice.pk] = quantize(part, invoice.currency)
        left -= part
    return suggested


class AllocationsForm(forms.Form):
    """One amount input per open invoice (``apply_{pk}``); empty or zero leaves the
    invoice out, and whatever is not applied stays on account."""

    def __init__(self, *args, invoices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.invoices = list(invoices)
        for invoice in self.invoices:
            self.fields[self.name_of(invoice)] = AmountField(
                required=False,
                label=_("Apply to %(invoice)s") % {"invoice": invoice},
            )

    @staticmethod
    def name_of(invoice) -> str:
        return f"apply_{invoice.pk}"

    def rows(self) -> list:
        return [(invoice, self[self.name_of(invoice)]) for invoice in self.invoices]

    def chosen(self) -> list:
        """(invoice, amount) of the invoices given an amount: ``allocations[i]``."""
        return [
            (invoice, self.cleaned_data[self.name_of(invoice)])
            for invoice in self.invoices
            if self.cleaned_data.get(self.name_of(invoice)) not in (None, 0)
        ]

    def show_domain_error(self, error: DomainError, chosen) -> None:
        """``allocations[i].amount`` of the service is the i-th chosen invoice."""
        self.domain_error = error.message
        match = _ALLOCATION_FIELD.match(error.field or "")
        if match and int(match.group(1)) < len(chosen):
            invoice = chosen[int(match.group(1))][0]
            self.add_error(self.name_of(invoice), error.message)
            return
        field = error.field if error.field in self.fields else None
        self.add_error(field, error.message)


class PaymentForm(AllocationsForm):
    received_date = BusinessDateField(label=_("Received on"))
    amount = AmountField(label=_("Amount"))
    currency = forms.CharField(
        widget=CURRENCY_INPUT,
        required=False,
        label=_("Currency"),
        help_text=_("Empty for the customer's account currency."),
    )
    method = forms.ChoiceField(
        choices=Payment.Method.choices,
        initial=Payment.Method.BANK_TRANSFER,
        label=_("Method"),
    )
    reference = forms.CharField(
        max_length=200,
        required=False,
        label=_("Reference"),
        help_text=_("As on the bank statement."),
    )
    payer_name = forms.CharField(max_length=200, required=False, label=_("Payer"))


class ApplyCashForm(AllocationsForm):
    allocation_date = BusinessDateField(label=_("Applied on"))


class PaymentReverseForm(forms.Form):
    reason = forms.CharField(
        max_length=300,
        label=_("Reason"),
        help_text=_("Bounced, entered twice…; kept on the payment."),
    )
    reversal_date = BusinessDateField(
        required=False,
        label=_("Reversal date"),
        help_text=_("Empty for today; the ledger reversal's date."),
    )


class WriteOffForm(forms.Form):
    amount = AmountField(
        label=_("Amount"), help_text=_("At most the invoice's open amount.")
    )
    write_off_date = BusinessDateField(label=_("Written off on"))
    reason = forms.CharField(max_length=300, label=_("Reason"))
