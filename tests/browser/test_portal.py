"""The portal in a real browser (Debian's Chromium through Playwright) against real
processes: the trust framework, two FSPs' nodes and the portal (tests/browser/stack.py).
Every main page is checked with axe-core and saved as a screenshot under docs/portal/."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from playwright.sync_api import Page, expect

from examples.generate import assets
from tests.browser.conftest import check_accessibility, screenshot, sign_in
from tests.browser.stack import Stack

GOOD = {"AssetName": "Didcot battery 9", "AssetCategory": "BESS", "RatedCapacity": "500",
        "InstalledCapacity": "500", "GenCapacity": "500", "DemandCapacity": "500",
        "EffectiveDate": "2025-04-01", "CommissioningDate": "2024-11-15",
        "ConnectionStatus": "CONNECTED", "ConnectionType": "NON_FIRM",
        "DNOConnection": "SSEN_SEPD", "GSPGroup": "_H", "ImportMPAN": "2000000000015",
        "FuelType_EnergySource": "GRID", "Manufacturer": "Example Power",
        "AssetModel": "EP-500", "SerialNumber": "EP500-BROWSER-1"}


def fill_asset(page: Page, values: dict[str, str]) -> None:
    for name, value in values.items():
        page.locator(f"#f-{name}").fill(value)


def test_sign_in_shows_the_organisation_with_a_secure_session_and_signs_out(
        page: Page, stack: Stack) -> None:
    page.goto(f"{stack.portal.url}/login")
    check_accessibility(page)
    screenshot(page, "sign-in")
    # with the keyboard alone: skip link, the node list, the button
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "node"
    page.select_option("#node", stack.flexco.url)
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{stack.fed.issuer}/authorize**")
    flexco = stack.fed.members["Flexco"]
    page.get_by_label("E-mail").fill(flexco.email)
    page.get_by_label("Password").fill(flexco.password)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{stack.portal.url}/")
    expect(page.locator("#organisation")).to_have_text("Flexco Ltd")
    answer = page.goto(f"{stack.portal.url}/")
    assert answer is not None
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    # the browser holds one opaque, HttpOnly, SameSite cookie, never the token
    cookies = page.context.cookies()
    assert [c["name"] for c in cookies if "127.0.0.1" in c["domain"]] == ["fmar-portal"]
    cookie = cookies[0]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert not cookie["value"].startswith("eyJ") and "." not in cookie["value"]
    assert "eyJ" not in page.content()
    check_accessibility(page)
    screenshot(page, "home")
    # a form posted without the session's CSRF token is refused and changes nothing
    forged = page.request.post(f"{stack.portal.url}/assets/new", form={**GOOD, "csrf": "x"})
    assert forged.status == 403 and "PORTAL-CSRF" in forged.text()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/login\?signed_out=1"))
    expect(page.get_by_role("status")).to_contain_text("Signed out")
    page.goto(f"{stack.portal.url}/assets")
    assert "/login" in page.url  # the old session is gone


def test_registering_an_asset_shows_each_violation_at_its_field_then_the_fix(
        page: Page, stack: Stack) -> None:
    sign_in(page, stack, "Flexco", stack.flexco.url)
    page.get_by_role("link", name="Register an asset").first.click()
    fill_asset(page, {**GOOD, "RatedCapacity": "-5"})
    page.get_by_role("button", name="Register the asset").click()
    expect(page.locator("#summary")).to_contain_text("Not registered")
    field_error = page.locator("#e-RatedCapacity")
    expect(field_error).to_contain_text("ARM-VAL-003")
    expect(field_error).to_contain_text("RatedCapacity is required")
    expect(page.locator("#f-RatedCapacity")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-AssetName")).to_have_value(GOOD["AssetName"])  # kept
    check_accessibility(page)
    screenshot(page, "register-with-error")
    page.locator("#f-RatedCapacity").fill("500")
    page.get_by_role("button", name="Register the asset").click()
    expect(page.get_by_role("status")).to_contain_text("Registered")
    expect(page.locator("#f-AssetName")).to_have_value(GOOD["AssetName"])
    screenshot(page, "asset")


def test_a_stale_etag_shows_a_clear_conflict_and_the_history_shows_the_change(
        page: Page, stack: Stack) -> None:
    sign_in(page, stack, "Flexco", stack.flexco.url)
    asset = stack.flexco_assets[0]
    page.goto(f"{stack.portal.url}/assets/{asset}")
    other = page.context.new_page()  # the same person, in a second tab
    other.goto(f"{stack.portal.url}/assets/{asset}")
    other.locator("#f-AssetName").fill("Renamed in the other tab")
    other.get_by_role("button", name="Save changes").click()
    expect(other.get_by_role("status")).to_contain_text("Saved")
    other.close()
    page.locator("#f-AssetName").fill("Renamed in the first tab")
    page.get_by_role("button", name="Save changes").click()
    conflict = page.locator("#conflict")
    expect(conflict).to_contain_text("Conflict — not saved")
    expect(conflict).to_contain_text("ARM-412")
    expect(conflict).to_contain_text("version 2")
    expect(page.locator("#f-AssetName")).to_have_value("Renamed in the first tab")
    check_accessibility(page)
    screenshot(page, "edit-conflict")
    page.get_by_role("link", name="Load the current version").click()
    expect(page.locator("#f-AssetName")).to_have_value("Renamed in the other tab")
    page.get_by_role("link", name="History of this asset").click()
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_contain_text("AssetName")
    check_accessibility(page)
    screenshot(page, "history")


def test_a_bulk_upload_with_a_bad_row_stores_the_good_one_and_reports_the_bad(
        page: Page, stack: Stack, tmp_path: Path) -> None:
    sign_in(page, stack, "Flexco", stack.flexco.url)
    org = stack.fed.members["Flexco"].org_id
    rows = list(assets(2, org, seed=4242, start=5000))
    rows[1]["RatedCapacity"] = "-1"  # row 2 breaks ARM-VAL-003
    columns = sorted({k for r in rows for k in r} - {"OrganisationId"})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    for r in rows:
        writer.writerow({k: str(v).lower() if isinstance(v, bool) else v
                         for k, v in r.items() if k in columns})
    upload = tmp_path / "assets.csv"
    upload.write_text(out.getvalue())
    page.get_by_role("link", name="Bulk upload").first.click()
    check_accessibility(page)
    expect(page.get_by_label("Upload progress")).to_be_hidden()
    page.get_by_label("CSV file").set_input_files(str(upload))
    # sent by bulk.js (XMLHttpRequest with upload progress), then the result page opens
    with page.expect_request(lambda r: r.method == "POST" and r.resource_type == "xhr"):
        page.get_by_role("button", name="Upload").click()
    page.wait_for_url(re.compile(r".*/bulk/[A-Za-z0-9_-]+$"))
    summary = page.locator("#bulk-summary")
    expect(summary).to_contain_text("2 rows received, 1 stored, 1 rejected")
    expect(page.locator("table tbody")).to_contain_text("ARM-VAL-003")
    check_accessibility(page)
    screenshot(page, "bulk-result")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the error report (CSV)").click()
    report = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert ("2", "RatedCapacity", "ARM-VAL-003") in {(r["row"], r["field"], r["rule"])
                                                     for r in report}
    assert all(r["row"] == "2" for r in report)


def test_an_fsp_sees_only_its_own_assets_even_through_another_fsps_node(
        page: Page, stack: Stack) -> None:
    flexco_asset = stack.flexco_assets[1]
    # Voltaflex on its own node: its assets, none of Flexco's
    sign_in(page, stack, "Voltaflex", stack.voltaflex.url)
    page.get_by_role("link", name="Assets").first.click()
    expect(page.locator("#count")).to_have_text("40 assets shown.")
    page.goto(f"{stack.portal.url}/assets/{flexco_asset}")
    expect(page.get_by_role("alert")).to_contain_text("Error")
    assert "Save changes" not in page.content()
    # the federated search relays Voltaflex's own token: every node answers, with its rows only
    page.goto(f"{stack.portal.url}/federation?go=1")
    expect(page.locator("#node-status tbody tr")).to_have_count(len(stack.fed.nodes))
    expect(page.locator("#node-status")).to_contain_text("Flexco Ltd, https://")
    answered = page.locator("#node-status tbody tr").filter(has_text="answered")
    expect(answered).to_have_count(len(stack.fed.nodes))
    expect(page.locator("#count")).to_contain_text("40 rows")
    orgs = set(page.locator("table:not(#node-status) tbody td:nth-child(3)").all_inner_texts())
    assert orgs == {stack.fed.members["Voltaflex"].org_id}
    check_accessibility(page)
    screenshot(page, "federated-search")
    # Voltaflex working through Flexco's node sees nothing of Flexco's either
    page.context.clear_cookies()
    sign_in(page, stack, "Voltaflex", stack.flexco.url)
    page.goto(f"{stack.portal.url}/assets")
    expect(page.locator("#count")).to_have_text("0 assets shown.")
    page.goto(f"{stack.portal.url}/assets/{flexco_asset}")
    expect(page.get_by_role("alert")).to_contain_text("Error")


def test_the_regulator_sees_aggregates_with_suppressed_cells_marked(
        page: Page, stack: Stack) -> None:
    sign_in(page, stack, "Ofgem", stack.flexco.url)  # no node of its own
    nav = page.get_by_role("navigation", name="Main")
    # Home, Aggregates, Events and Reports only
    expect(nav.get_by_role("link")).to_have_count(4)
    nav.get_by_role("link", name="Aggregates").click()
    expect(page.locator("#node-status tbody tr")).to_have_count(len(stack.fed.nodes))
    cells = page.locator("#cells tbody tr")
    expect(cells.filter(has_text="Suppressed").first).to_be_visible()
    expect(cells.filter(has_text="Shown").first).to_be_visible()
    suppressed = cells.filter(has_text="Suppressed").first.locator("td")
    assert suppressed.nth(1).inner_text() == "—"  # no number shown for a suppressed cell
    check_accessibility(page)
    screenshot(page, "regulator-aggregates")
    # the regulator reads no asset rows through the portal either
    page.goto(f"{stack.portal.url}/assets")
    expect(page.get_by_role("alert")).to_contain_text("Error")
