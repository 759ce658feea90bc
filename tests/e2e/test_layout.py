"""The layout at a phone's width and a laptop's: the landing page reads at 390 px
with the navigation folded behind a menu button and nothing scrolling sideways;
at 1280 px the wide lists keep the page still and scroll their tables inside a
wrapper that shows a shadow on the edge with more columns."""

import pytest

from demo.services import seed_demo
from o2c.models import Role
from tests.factories import member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-1"
PAGE_WIDTH = "document.documentElement.scrollWidth"
# Every table either fits its box or sits in a wrapper that scrolls sideways with
# the shadow cue; returns the tables that are clipped or scroll without a cue.
CLIPPED_TABLES = """() => {
  const faults = [];
  for (const table of document.querySelectorAll("main table")) {
    const wrap = table.closest(".table-wrap");
    const box = (wrap || table.parentElement).getBoundingClientRect();
    const style = wrap && getComputedStyle(wrap);
    const scrolls = style && style.overflowX === "auto";
    const shadows = style && style.backgroundImage.match(/radial-gradient/g);
    const cue = shadows && shadows.length === 2
      && style.backgroundAttachment.includes("local");
    const name = table.id || table.className;
    if (wrap && !(scrolls && cue)) faults.push("no cue: " + name);
    if (!wrap && table.getBoundingClientRect().right > box.right + 1)
      faults.push("clipped: " + name);
  }
  return faults;
}"""


@pytest.fixture
def signed_in(live_server, browser):
    result = seed_demo(slug="e2e-layout", customers=30, months=6, seed=11)
    user = member(result.organization, Role.FINANCE, username="cfo@layout.example")

    def open_at(width: int, height: int):
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/login/?next=/")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        return page

    return open_at


def test_landing_page_reads_on_a_phone(signed_in):
    page = signed_in(390, 844)
    page.wait_for_selector("#top-overdue")
    page.wait_for_load_state("networkidle")
    assert page.evaluate(PAGE_WIDTH) <= 390
    menu = page.locator(".nav-toggle")
    aging_link = page.locator("#main-nav a", has_text="Aging")
    assert menu.is_visible() and not aging_link.is_visible()
    # The figures come before the navigation's links and stack in one column.
    cards = page.locator("#headline .stat")
    lefts = {round(cards.nth(i).bounding_box()["x"]) for i in range(cards.count())}
    assert cards.count() >= 5 and len(lefts) == 1
    page.screenshot(path="/tmp/landing-390.png", full_page=True)
    menu.click()
    assert aging_link.is_visible()
    assert menu.get_attribute("aria-expanded") == "true"
    assert page.evaluate(PAGE_WIDTH) <= 390
    assert page.evaluate(CLIPPED_TABLES) == []
    page.screenshot(path="/tmp/landing-390-menu.png")
    page.context.close()


@pytest.mark.parametrize(
    "path",
    [
        "/invoices/",
        "/reports/aging/",
        "/payments/",
        "/collections/runs/",
        "/bank/queue/",
    ],
)
def test_wide_lists_scroll_inside_their_card(signed_in, live_server, path):
    page = signed_in(1280, 860)
    page.goto(f"{live_server.url}{path}")
    page.wait_for_load_state("networkidle")
    assert page.locator("main table").count() > 0
    assert page.evaluate(PAGE_WIDTH) <= 1280
    assert page.locator(".nav-toggle").is_hidden()
    assert page.evaluate(CLIPPED_TABLES) == []
    name = path.strip("/").replace("/", "-")
    page.screenshot(path=f"/tmp/landing-1280-{name}.png", full_page=True)
    page.context.close()


def test_landing_page_on_a_laptop_keeps_the_figures_side_by_side(signed_in):
    page = signed_in(1366, 768)
    page.wait_for_selector("#top-overdue")
    page.wait_for_load_state("networkidle")
    assert page.evaluate(PAGE_WIDTH) <= 1366
    assert page.locator(".nav-toggle").is_hidden()
    assert page.locator("#main-nav a", has_text="Aging").is_visible()
    cards = page.locator("#headline .stat")
    lefts = {round(cards.nth(i).bounding_box()["x"]) for i in range(cards.count())}
    assert len(lefts) >= 3  # a row of figures, not a column
    assert page.evaluate(CLIPPED_TABLES) == []
    page.screenshot(path="/tmp/landing-1366.png", full_page=True)
    page.context.close()
