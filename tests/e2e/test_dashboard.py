"""The finance dashboard in a browser on the demo company: the charts are drawn,
the total receivables shown is the sum of the aging buckets shown, and a bucket
opens the invoices behind it."""

from decimal import Decimal

import pytest

from demo.services import seed_demo
from o2c.models import Role
from o2c.templatetags.o2c_tags import format_amount
from o2c.tenancy import tenant_context
from tests.factories import member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-1"
# Canvas pixels with any ink: an empty canvas has none.
INKED_PIXELS = """canvas => {
  const context = canvas.getContext("2d");
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let inked = 0;
  for (let i = 3; i < data.length; i += 4) { if (data[i] > 0) inked++; }
  return inked;
}"""


@pytest.fixture
def demo_company():
    result = seed_demo(slug="e2e-dashboard", customers=40, months=8, seed=7)
    user = member(result.organization, Role.FINANCE, username="cfo@demo.example")
    return result.organization, user


def test_dashboard_charts_and_totals(live_server, page, screenshot, demo_company):
    organization, user = demo_company
    page.goto(f"{live_server.url}/login/?next=/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    page.wait_for_function(
        "() => document.querySelectorAll('canvas[data-rendered=\"true\"]').length >= 3"
    )
    canvases = page.locator("canvas[data-chart]")
    assert canvases.count() == 3  # aging, DSO trend, cash forecast
    for index in range(canvases.count()):
        assert canvases.nth(index).evaluate(INKED_PIXELS) > 500

    total_figure = page.locator('[data-figure="total-receivables"]')
    total = Decimal(total_figure.get_attribute("data-value"))
    cells = page.locator("#aging-buckets [data-bucket]")
    buckets = [
        Decimal(cells.nth(i).get_attribute("data-value")) for i in range(cells.count())
    ]
    assert cells.count() == 5  # Current, 1-30, 31-60, 61-90, 90+
    assert total > 0
    assert sum(buckets) == total
    # The printed figures are the same numbers as the attributes.
    with tenant_context(organization):
        assert format_amount(total, "EUR") in total_figure.inner_text()
        for i, amount in enumerate(buckets):
            assert format_amount(amount, "EUR") in cells.nth(i).inner_text()
    assert "dso (countback)" in page.inner_text("#headline").lower()
    screenshot("dashboard")

    cells.nth(0).locator("a").click()
    page.wait_for_url("**/reports/aging/invoices/**")
    assert page.locator("#drill-invoices tbody tr").count() > 0

    page.goto(f"{live_server.url}/reports/aging/?in_base=on")
    page.wait_for_selector('canvas[data-rendered="true"]')
    screenshot("dashboard-aging")
    page.goto(f"{live_server.url}/reports/metrics/")
    page.wait_for_function(
        "() => document.querySelectorAll('canvas[data-rendered=\"true\"]').length == 3"
    )
    screenshot("dashboard-metrics")

    page.goto(f"{live_server.url}/")
    page.locator("#top-overdue tbody a").first.click()
    page.wait_for_url("**/history/")
    page.wait_for_function(
        "() => document.querySelectorAll('canvas[data-rendered=\"true\"]').length == 2"
    )
    screenshot("dashboard-customer-history")
    page.click("text=Statement of account")
    page.wait_for_url("**/statement/")
    assert page.locator("#statement-lines tbody tr").count() > 1
    screenshot("dashboard-statement")
