"""The facilitator's, system operators' and everyone's pages in a real browser against the
real processes (tests/browser/stack.py): a category's shape checked then saved (and a stale
save refused), a product proposed, refused to its proposer (POL-010) and approved by the
facilitator, the event feed and webhook subscriptions, the regulator's reports with a
suppressed cell marked and a chart, and a session that survives a portal restart."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import SHOTS, check_accessibility, screenshot, sign_in
from tests.browser.stack import Stack

SHAPE = "<https://id.fmar.uk/def/shapes#Category_REFRIGERATION>"
SH = "http://www.w3.org/ns/shacl#"
BAD_RULE = (f'{SHAPE} <{SH}property> [ <{SH}path> <https://id.fmar.uk/def/fmar#ratedCapacity> '
            f'; <{SH}minCount> "abc" ; <https://id.fmar.uk/def/fmar#ruleId> '
            '"ARM-CAT-REFRIGERATION-099" ] .')
HARMLESS = f'{SHAPE} <http://www.w3.org/2000/01/rdf-schema#comment> "Checked in the portal" .'


def test_CAT_DEF_090_the_facilitator_checks_a_shape_before_saving_it(
        page: Page, stack: Stack) -> None:
    sign_in(page, stack, "Elexon", stack.flexco.url)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Categories").click()
    check_accessibility(page)
    screenshot(page, "categories")
    page.get_by_role("link", name="Edit the shape of REFRIGERATION").click()
    editor = page.get_by_label("Shape of REFRIGERATION (Turtle)")
    original = editor.input_value()
    assert "Category_REFRIGERATION" in original
    # a malformed rule: the node's check refuses it with its rule ID, nothing saved
    editor.fill(original + "\n" + BAD_RULE + "\n")
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_role("alert")).to_contain_text("CAT-DEF-005")
    check_accessibility(page)
    screenshot(page, "category-check-refused")
    # fixed: the check passes, then the save stores a new version
    page.get_by_label("Shape of REFRIGERATION (Turtle)").fill(original + "\n" + HARMLESS + "\n")
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#check-result")).to_contain_text("Check passed (CAT-DEF-090)")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    assert "Checked in the portal" in page.get_by_label(
        "Shape of REFRIGERATION (Turtle)").input_value()


def test_CAT_DEF_091_a_stale_category_save_is_refused_in_the_portal(
        page: Page, stack: Stack) -> None:
    sign_in(page, stack, "Elexon", stack.flexco.url)
    page.goto(f"{stack.portal.url}/categories/HVAC")
    other = page.context.new_page()  # the same person in a second tab saves first
    other.goto(f"{stack.portal.url}/categories/HVAC")
    other.get_by_role("button", name="Save").click()
    expect(other.get_by_role("status")).to_contain_text("Saved")
    page.get_by_role("button", name="Save").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("CAT-DEF-091")
    expect(alert).to_contain_text("Read it again")


def test_POL_010_a_system_operator_proposes_a_product_the_facilitator_approves(
        page: Page, stack: Stack) -> None:
    sign_in(page, stack, "NESO", stack.flexco.url)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Products").click()
    form = page.get_by_role("form", name="Propose a product version")
    form.get_by_label("Product code").fill("PORTAL_DFS")
    form.get_by_label("Product name").fill("Portal demand flexibility")
    form.get_by_label("System operator").select_option("NESO")
    form.get_by_label("Valid from").fill("2027-04-01")
    form.get_by_role("button", name="Propose").click()
    expect(page.get_by_role("status")).to_contain_text("proposed")
    expect(page.locator("dl.record")).to_contain_text("Proposed")
    product_url = page.url.split("?")[0]
    # its proposer cannot approve it: the node's rule ID is shown
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#refused")).to_contain_text("POL-010")
    check_accessibility(page)
    screenshot(page, "product-refused")
    page.context.clear_cookies()
    sign_in(page, stack, "Elexon", stack.flexco.url)
    page.goto(product_url)
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("approved")
    expect(page.locator("dl.record")).to_contain_text("Active")
    page.goto(f"{stack.portal.url}/products?code=PORTAL_DFS")
    expect(page.locator("tbody tr")).to_have_count(1)
    check_accessibility(page)
    screenshot(page, "products")
    page.goto(f"{stack.portal.url}/products/in-force?code=PORTAL_DFS&on=2027-05-01")
    expect(page.locator("dl.record")).to_contain_text("PORTAL_DFS")


def test_events_and_webhook_subscriptions(page: Page, stack: Stack) -> None:
    sign_in(page, stack, "Flexco", stack.flexco.url)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Events").click()
    expect(page.get_by_role("table")).to_be_visible()
    check_accessibility(page)
    screenshot(page, "events")
    page.get_by_role("link", name="webhook subscriptions").click()
    # refused: not https; the node's rule ID is shown and nothing is stored
    page.get_by_label("Endpoint URL").fill("http://example.org/hook")
    page.get_by_label("asset.changed").check()
    page.get_by_role("button", name="Subscribe").click()
    expect(page.locator("#refused")).to_contain_text(re.compile(r"rule [A-Z]+-[A-Z0-9-]+"))
    expect(page.locator("tbody")).to_contain_text("No subscription")
    page.get_by_label("Endpoint URL").fill("https://flexco.example/fmar/events")
    page.get_by_label("asset.changed").check()
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("status")).to_contain_text("created")
    expect(page.locator("tbody")).to_contain_text("https://flexco.example/fmar/events")
    check_accessibility(page)
    screenshot(page, "subscriptions")
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_contain_text("deleted")
    expect(page.locator("tbody")).to_contain_text("No subscription")


def test_the_regulator_dashboard_marks_suppressed_cells_and_draws_charts(
        page: Page, stack: Stack) -> None:
    sign_in(page, stack, "Ofgem", stack.flexco.url)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    check_accessibility(page)
    page.get_by_role("link", name="Registered flexible capacity").click()
    rows = page.locator("table.report tbody tr")
    suppressed = rows.filter(has_text="Suppressed").first
    expect(suppressed).to_be_visible()
    expect(suppressed.locator("td").last).to_have_text(re.compile("^Suppressed"))
    expect(rows.filter(has_text="Shown").first).to_be_visible()
    chart = page.locator("figure img").first
    expect(chart).to_be_visible()
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    assert page.evaluate("[...document.images].every(i => i.naturalWidth > 0)")
    svg = page.request.get(f"{stack.portal.url}{chart.get_attribute('src')}")
    assert svg.status == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert "default-src 'none'" in svg.headers["content-security-policy"]
    check_accessibility(page)
    page.screenshot(path=str(SHOTS / "report.png"))  # the top: its tables run long
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    text = Path(download.value.path()).read_text()
    assert text.startswith("table,measure") and ",yes," in text  # a suppressed row, no number
    with page.expect_download() as download:
        page.get_by_role("link", name="XLSX").click()
    assert Path(download.value.path()).read_bytes()[:2] == b"PK"


def test_a_session_survives_a_portal_restart(page: Page, stack: Stack) -> None:
    sign_in(page, stack, "Flexco", stack.flexco.url)
    stack.portal.restart()
    page.goto(f"{stack.portal.url}/events")
    expect(page.locator("#organisation")).to_have_text("Flexco Ltd")
    assert "/login" not in page.url
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/login\?signed_out=1"))
    page.goto(f"{stack.portal.url}/events")
    assert "/login" in page.url
