from decimal import Decimal

import pytest

from collecting.services.policies import policy_create
from tests.factories import SYSTEM


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True


BODY = (
    "Dear {{ contact.name }}\n\n{{ invoices_table }}\n\n"
    "Total: {{ total }} {{ currency }}\nFee: {{ fee }}\n"
)

STEPS = [
    {
        "name": "Courtesy",
        "offset_days": -3,
        "channel": "email",
        "translations": {
            "de": {"subject": "Zahlungserinnerung für {{ customer.name }}"}
        },
    },
    {"name": "Reminder 1", "offset_days": 7, "channel": "email"},
    {
        "name": "Reminder 2",
        "offset_days": 21,
        "channel": "email",
        "fee_amount": Decimal("5.00"),
    },
    {"name": "Final notice", "offset_days": 35, "channel": "letter"},
    {"name": "Call", "offset_days": 45, "channel": "call_task"},
    {"name": "Credit hold", "offset_days": 60, "channel": "credit_hold"},
]


def make_policy(name="Standard", *, attach=False, minimum="10.00", steps=STEPS):
    return policy_create(
        actor=SYSTEM,
        name=name,
        is_default=True,
        steps=[
            {
                "subject": "{{ step }} for {{ customer.name }}",
                "body": BODY,
                "attach_invoices": attach,
                "minimum_amount": Decimal(minimum),
                **step,
            }
            if step["channel"] in ("email", "letter")
            else {"minimum_amount": Decimal(minimum), **step}
            for step in steps
        ],
    )


@pytest.fixture
def policy(tenant):
    return make_policy()
