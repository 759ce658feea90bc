"""Forms of the finance desk: customers, contacts, sales orders and shipments.

The forms only read the input (a number is a number as the organization writes it,
see :mod:`o2c.numbers`; a date is a real date); every business rule — a positive
quantity, a known currency, a credit limit in the currency's minor unit, the
credit check — is the services' and comes back as a
:class:`~o2c.errors.DomainError`, which :func:`show_domain_error` puts next to the
input it names (``lines[1].quantity`` is the quantity of the second row), the way
the API names it.
"""

from __future__ import annotations

import re

from django import forms
from django.http import Http404, QueryDict
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from o2c.api.fields import organization_members
from o2c.dates import OrgDateField
from o2c.errors import DomainError
from o2c.money import quantize
from o2c.numbers import OrgDecimalField, OrgNumberInput
from orders.models import QUANTITY, Contact, Customer, Item, PaymentTerm

MONEY_DIGITS = {"max_digits": 18, "decimal_places": 3}
# No max_length on the field: the service's "Unknown currency 'EURO'." is the
# clearer message, the same as the API's.
CURRENCY_INPUT = forms.TextInput(
    attrs={"maxlength": 3, "class": "mono", "autocapitalize": "characters"}
)
LANGUAGES = [
    ("en", gettext_lazy("English")),
    ("de", gettext_lazy("German")),
    ("fr", gettext_lazy("French")),
    ("es", gettext_lazy("Spanish")),
    ("it", gettext_lazy("Italian")),
    ("nl", gettext_lazy("Dutch")),
]


# The desk's one date field: the organization's format (or ISO) in and out.
BusinessDateField = OrgDateField


class AmountField(OrgDecimalField):
    """An amount as typed; its currency's minor unit is checked by the service."""

    def __init__(self, **kwargs):
        super().__init__(**MONEY_DIGITS, **kwargs)


class QuantityField(OrgDecimalField):
    """A quantity as typed; the service refuses zero and negative ones."""

    def __init__(self, **kwargs):
        super().__init__(**QUANTITY, **kwargs)


class TaxRateField(OrgDecimalField):
    widget = OrgNumberInput(attrs={"placeholder": "0"})

    def __init__(self, **kwargs):
        super().__init__(max_digits=6, decimal_places=3, **kwargs)


# --- errors ------------------------------------------------------------------------

_ROW_FIELD = re.compile(r"^(\w+)\[(\d+)\](?:\.(\w+))?$")


def show_domain_error(error: DomainError, form, rows=None) -> None:
    """Put the service's message next to the input it names, else on the form.

    ``rows`` are the line forms of ``lines[i]``. The message is also kept on the
    form (``form.domain_error``) for the summary at the top of the page.
    """
    form.domain_error = error.message
    match = _ROW_FIELD.match(error.field or "")
    if match and rows is not None and int(match.group(2)) < len(rows):
        row = rows[int(match.group(2))]
        name = match.group(3)
        row.add_error(name if name in row.fields else None, error.message)
        return
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.message)


def tenant_object(model, pk):
    """A row of the caller's organization by an id from a hidden field or a query
    string; another organization's id (or none at all) answers 404, as in the API."""
    if pk in (None, ""):
        return None
    if not str(pk).isdigit():
        raise Http404(f"No {model._meta.verbose_name} with id {pk}.")
    obj = model.objects.filter(pk=int(pk)).first()
    if obj is None:
        raise Http404(f"No {model._meta.verbose_name} with id {pk}.")
    return obj


# --- line rows --------------------------------------------------------------------


def line_rows(data: QueryDict, prefix: str, fields: list[str]) -> list[dict]:
    """The rows of a line table as typed (strings), for re-rendering it with a row
    added or removed without validating anything yet."""
    total = data.get(f"{prefix}-TOTAL_FORMS", "0")
    count = min(int(total), 200) if total.isdigit() else 0
    return [
        {name: data.get(f"{prefix}-{index}-{name}", "") for name in fields}
        for index in range(count)
    ]


def edited_rows(data: QueryDict, prefix: str, fields: list[str]) -> list[dict]:
    """Rows after the "Add line" or "Remove" button the clerk pressed."""
    rows = line_rows(data, prefix, fields)
    if "add_line" in data:
        rows.append({})
    remove = data.get("remove_line", "")
    if remove.isdigit() and int(remove) < len(rows):
        del rows[int(remove)]
    return rows


def is_row_edit(data: QueryDict) -> bool:
    return "add_line" in data or "remove_line" in data


# --- customers ----------------------------------------------------------------------


class CustomerForm(forms.Form):
    name = forms.CharField(max_length=200, label=gettext_lazy("Name"))
    number = forms.CharField(
        max_length=40,
        required=False,
        label=gettext_lazy("Number"),
        help_text=gettext_lazy("Empty on a new customer: numbered automatically."),
    )
    legal_name = forms.CharField(
        max_length=200, required=False, label=gettext_lazy("Legal name")
    )
    email = forms.EmailField(required=False, label=gettext_lazy("Email"))
    phone = forms.CharField(max_length=50, required=False, label=gettext_lazy("Phone"))
    address = forms.CharField(
        required=False,
        label=gettext_lazy("Address"),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    country = forms.CharField(
        max_length=2,
        required=False,
        label=gettext_lazy("Country"),
        help_text=gettext_lazy("ISO code, e.g. DE"),
    )
    tax_id = forms.CharField(
        max_length=50, required=False, label=gettext_lazy("Tax id")
    )
    language = forms.CharField(
        max_length=10,
        initial="en",
        label=gettext_lazy("Language"),
        widget=forms.TextInput(attrs={"list": "customer-languages"}),
        help_text=gettext_lazy("Language of invoices and reminders (en, de, fr…)."),
    )
    currency = forms.CharField(
        widget=CURRENCY_INPUT,
        required=False,
        label=gettext_lazy("Account currency"),
        help_text=gettext_lazy(
            "ISO 4217 code; empty on a new customer: the base currency."
        ),
    )
    payment_term = forms.ModelChoiceField(
        queryset=None, label=gettext_lazy("Payment terms")
    )
    credit_limit = AmountField(
        required=False,
        label=gettext_lazy("Credit limit"),
        help_text=gettext_lazy("In the account currency; empty for no limit."),
    )
    on_credit_hold = forms.BooleanField(
        required=False, label=gettext_lazy("On credit hold")
    )
    credit_hold_reason = forms.CharField(
        max_length=300,
        required=False,
        label=gettext_lazy("Reason for the hold or its release"),
    )
    collector = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label=gettext_lazy("Collector"),
        empty_label=gettext_lazy("Unassigned"),
    )
    segment = forms.CharField(
        max_length=50, required=False, label=gettext_lazy("Segment")
    )
    risk_class = forms.ChoiceField(
        choices=Customer.Risk.choices,
        initial=Customer.Risk.MEDIUM,
        label=gettext_lazy("Risk class"),
    )
    do_not_contact = forms.BooleanField(
        required=False,
        label=gettext_lazy("Do not contact"),
        help_text=gettext_lazy("No dunning emails, letters or calls."),
    )
    external_id = forms.CharField(
        max_length=100, required=False, label=gettext_lazy("External id")
    )

    # Passed to the services; the credit hold has a service of its own.
    MASTER_FIELDS = [
        "name", "number", "legal_name", "email", "phone", "address", "country",
        "tax_id", "language", "currency", "payment_term", "credit_limit",
        "collector", "segment", "risk_class", "do_not_contact", "external_id",
    ]  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Few per organization (terms, members): a select is bounded.
        self.fields["payment_term"].queryset = PaymentTerm.objects.order_by("name")
        self.fields["collector"].queryset = organization_members().order_by(
            "first_name", "last_name", "username"
        )
        self.fields["collector"].label_from_instance = lambda user: (
            user.get_full_name() or user.get_username()
        )

    def master_data(self) -> dict:
        data = {name: self.cleaned_data[name] for name in self.MASTER_FIELDS}
        data["number"] = data["number"].strip()
        data["currency"] = data["currency"].strip().upper()
        # Empty: the service numbers a new customer and takes the base currency;
        # an existing one keeps its number and currency.
        return {
            name: value
            for name, value in data.items()
            if value or name not in ("number", "currency")
        }


def customer_initial(customer: Customer) -> dict:
    initial = {name: getattr(customer, name) for name in CustomerForm.MASTER_FIELDS}
    if customer.credit_limit is not None:
        # 500.00 EUR, not the column's 500.000
        initial["credit_limit"] = quantize(customer.credit_limit, customer.currency)
    return {**initial, "on_credit_hold": customer.on_credit_hold}


class ContactForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = ["name", "email", "phone", "role", "is_primary"]
        labels = {
            "name": gettext_lazy("Name"),
            "email": gettext_lazy("Email"),
            "phone": gettext_lazy("Phone"),
            "role": gettext_lazy("Role"),
            "is_primary": gettext_lazy("Primary"),
        }


class PaymentTermForm(forms.ModelForm):
    """Name, due date rule and the optional early-payment discount. Instalment
    schedules are kept as they are here (the API edits them)."""

    class Meta:
        model = PaymentTerm
        fields = ["name", "kind", "days", "discount_percent", "discount_days"]
        labels = {
            "name": gettext_lazy("Name"),
            "kind": gettext_lazy("Kind"),
            "days": gettext_lazy("Days"),
            "discount_percent": gettext_lazy("Discount %"),
            "discount_days": gettext_lazy("Discount days"),
        }
        help_texts = {
            "days": gettext_lazy(
                "Net: due this many days after the invoice date; end of "
                "month: after the month's last day."
            ),
            "discount_percent": gettext_lazy('e.g. 2 for "2/10 net 30"; 0 for none.'),
            "discount_days": gettext_lazy(
                "Days after the invoice date the discount holds."
            ),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["discount_percent"].required = False
        self.fields["discount_days"].required = False

    def term_data(self) -> dict:
        data = dict(self.cleaned_data)
        data["discount_percent"] = data.get("discount_percent") or 0
        data["discount_days"] = data.get("discount_days") or 0
        return data

    def _post_clean(self):
        # The service validates the term (and names the field); the model's own
        # checks would run on a half-built instance.
        pass


# --- sales orders -------------------------------------------------------------------


class OrderForm(forms.Form):
    order_date = BusinessDateField(label=gettext_lazy("Order date"))
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
    )


class OrderLineForm(forms.Form):
    item = forms.CharField(
        max_length=60,
        required=False,
        label=gettext_lazy("Item (SKU)"),
        widget=forms.TextInput(
            attrs={
                "list": "catalog-items",
                "autocomplete": "off",
                "class": "mono",
                # Refill the datalist with the catalog items matching the input.
                "hx-get": reverse_lazy("catalog-options"),
                "hx-trigger": "input changed delay:200ms",
                "hx-target": "#catalog-items",
                "hx-swap": "innerHTML",
            }
        ),
    )
    description = forms.CharField(
        max_length=300, required=False, label=gettext_lazy("Description")
    )
    quantity = QuantityField(label=gettext_lazy("Quantity"))
    unit_price = AmountField(required=False, label=gettext_lazy("Unit price"))
    tax_rate = TaxRateField(required=False, label=gettext_lazy("Tax %"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Empty takes the catalog item's (the service's rule); say so, not "0".
        self.fields["unit_price"].widget.attrs["placeholder"] = _("item's price")
        self.fields["tax_rate"].widget.attrs["placeholder"] = _("item's")

    def clean_item(self):
        sku = self.cleaned_data["item"].strip()
        if not sku:
            return None
        # The datalist shows "SKU · name · price"; a pasted label still finds it.
        sku = sku.split(" · ")[0].strip()
        item = Item.objects.filter(sku=sku).first()
        if item is None:
            raise forms.ValidationError(
                _("No item with SKU '%(sku)s' in the catalog.") % {"sku": sku}
            )
        return item


class LineFormSet(forms.BaseFormSet):
    """Rows of a line table; a row left blank is no line (not an error)."""

    def _construct_form(self, i, **kwargs):
        # Blank means nothing typed, not "as it was": a stored line shown and
        # saved unchanged equals its initial values and must still be a line.
        kwargs["empty_permitted"] = not self._has_input(i)
        kwargs["use_required_attribute"] = False
        return super()._construct_form(i, **kwargs)

    def _has_input(self, i) -> bool:
        if not self.is_bound:
            return False
        prefix = self.add_prefix(i)
        return any(
            str(self.data.get(f"{prefix}-{name}", "")).strip()
            for name in self.form.base_fields
        )

    def filled_forms(self) -> list:
        """The rows with input, in order: ``lines[i]`` of the service."""
        return [form for form in self.forms if form.cleaned_data]


ORDER_LINE_FIELDS = ["item", "description", "quantity", "unit_price", "tax_rate"]
OrderLineFormSet = forms.formset_factory(OrderLineForm, formset=LineFormSet, extra=0)


class ConfirmForm(forms.Form):
    override_credit_check = forms.BooleanField(
        required=False, label=gettext_lazy("Override the credit check")
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=300, required=False, label=gettext_lazy("Reason")
    )


class ShipmentForm(forms.Form):
    shipped_date = BusinessDateField(label=gettext_lazy("Shipped on"))
    carrier = forms.CharField(
        max_length=100, required=False, label=gettext_lazy("Carrier")
    )
    tracking_number = forms.CharField(
        max_length=100, required=False, label=gettext_lazy("Tracking number")
    )

    def __init__(self, *args, order_lines=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.order_lines = list(order_lines)
        for line in self.order_lines:
            self.fields[f"ship_{line.pk}"] = QuantityField(
                required=False,
                label=_("Ship of line %(position)s") % {"position": line.position},
            )

    def quantity_field(self, line):
        return self[f"ship_{line.pk}"]

    def shipped_lines(self) -> list:
        """(order line, quantity) of the lines given a quantity; empty and zero
        quantities mean "not in this shipment"."""
        return [
            (line, self.cleaned_data[f"ship_{line.pk}"])
            for line in self.order_lines
            if self.cleaned_data.get(f"ship_{line.pk}") not in (None, 0)
        ]
