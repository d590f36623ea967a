"""The market pages in a real browser against real processes (tests/browser/stack.py):
an FSP's market units (an error at its field, then the fix), members on dates, the
eligibility matrix, qualification applications; the DNO's qualification queue (an outcome
recorded, a refused move with its rule ID, then a move with a reason) and its connection
limits upload; the XLSX bulk upload; and another FSP's user who cannot see the units.
Every page is checked with axe-core and saved under docs/portal/."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from openpyxl import Workbook
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import check_accessibility, screenshot, sign_in
from tests.browser.stack import Stack
from tests.browser.test_portal import GOOD


def new_page(browser: Browser) -> Page:
    context = browser.new_context(ignore_https_errors=True, accept_downloads=True,
                                  locale="en-GB")
    context.set_default_timeout(60_000)
    return context.new_page()


def an_asset(page: Page, stack: Stack) -> tuple[str, str]:
    """A Flexco asset with an import MPAN: (AssetId, MPAN)."""
    for asset_id in stack.flexco_assets:
        page.goto(f"{stack.portal.url}/assets/{asset_id}")
        mpan = page.locator("#f-ImportMPAN").input_value()
        if mpan:
            return asset_id, mpan
    raise AssertionError("no Flexco asset has an import MPAN")


def create_unit(page: Page, stack: Stack, name: str, mpan: str) -> str:
    page.goto(f"{stack.portal.url}/market-units/new")
    page.locator("#f-Name").fill(name)
    page.locator("#f-ConnectionMPAN").fill(mpan)
    page.get_by_role("button", name="Create the unit").click()
    expect(page.locator("#notice")).to_contain_text("created")
    return page.url.split("/market-units/")[1].split("?")[0]


def apply_for(page: Page, stack: Stack, unit_id: str, product: str) -> str:
    page.goto(f"{stack.portal.url}/qualification-applications?unit={unit_id}")
    page.locator("#f-Product").fill(product)
    page.locator("#f-ClaimedUpKW").fill("100")
    page.locator("#f-Evidence").fill(f"https://docs.example/flexco/{product}.pdf")
    page.get_by_role("button", name="Apply", exact=True).click()
    expect(page.locator("#notice")).to_contain_text("requested")
    return page.url.split("created=")[1]


def test_an_fsp_creates_a_unit_with_an_error_then_the_fix_and_manages_its_members(
        page: Page, stack: Stack) -> None:
    sign_in(page, stack, "Flexco", stack.flexco.url)
    asset_id, mpan = an_asset(page, stack)
    page.get_by_role("link", name="Market units").first.click()
    page.get_by_role("link", name="Create a market unit").click()
    page.locator("#f-Name").fill("Browser site")
    page.locator("#f-ConnectionMPAN").fill("12345")  # not 13 digits
    page.get_by_role("button", name="Create the unit").click()
    expect(page.locator("#summary")).to_contain_text("Not created")
    field_error = page.locator("#e-ConnectionMPAN")
    expect(field_error).to_contain_text("MU-VAL-004")
    expect(field_error).to_contain_text("exactly 13 digits")
    expect(page.locator("#f-ConnectionMPAN")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-Name")).to_have_value("Browser site")  # kept
    check_accessibility(page)
    screenshot(page, "market-unit-with-error")
    page.locator("#f-ConnectionMPAN").fill(mpan)
    page.get_by_role("button", name="Create the unit").click()
    expect(page.locator("#notice")).to_contain_text("The unit was created")
    unit_id = page.url.split("/market-units/")[1].split("?")[0]

    # a member not metered at the unit's MPAN is refused with its rule; then the right one
    other = next(a for a in stack.flexco_assets if a != asset_id)
    page.locator("#f-AssetId").fill(other)
    page.locator("#f-ValidFrom").fill("2026-01-01")
    page.get_by_role("button", name="Add the member").click()
    expect(page.locator("#summary")).to_contain_text("MU-VAL-035")
    page.locator("#f-AssetId").fill(asset_id)
    page.locator("#f-ValidFrom").fill("2026-01-01")
    page.get_by_role("button", name="Add the member").click()
    members = page.locator("#members")
    expect(members).to_contain_text(asset_id)
    expect(members).to_contain_text("2026-01-01")
    expect(page.locator("#capability")).to_contain_text("Members")
    expect(page.locator("#capability tr").first).to_contain_text("1")
    expect(page.locator("#history")).to_contain_text("create-market-unit")
    check_accessibility(page)
    screenshot(page, "market-unit")

    # the membership ends on a date: shown with its end, the unit keeps its history
    page.get_by_label(f"End date for {asset_id}").fill("2030-01-01")
    page.get_by_role("button", name="End membership").click()
    expect(page.locator("#notice")).to_contain_text("Saved")
    expect(members).to_contain_text("2030-01-01")

    page.goto(f"{stack.portal.url}/market-units")
    expect(page.locator("#units")).to_contain_text("Browser site")
    check_accessibility(page)
    screenshot(page, "market-units")

    # the eligibility matrix: outcomes in words and symbols, never colour alone
    page.get_by_role("link", name="Eligibility", exact=True).click()
    matrix = page.locator("#matrix")
    expect(matrix).to_contain_text(unit_id)
    expect(matrix.locator("thead")).to_contain_text("DC")
    cells = matrix.locator("td.outcome")
    assert cells.count() > 0
    for text in cells.all_inner_texts():
        assert any(w in text for w in ("Eligible", "Not eligible", "Cannot tell")), text
    check_accessibility(page)
    screenshot(page, "eligibility-matrix")
    page.get_by_role("link", name=unit_id).click()
    expect(page.locator("#capability")).to_contain_text("MW")
    body = page.locator("main").inner_text()
    assert "Not met" in body or "Cannot tell" in body
    assert "ELIG-" in body
    check_accessibility(page)
    screenshot(page, "unit-eligibility")


def test_an_fsp_applies_with_an_error_then_the_fix_and_the_dno_records_the_outcome(
        page: Page, stack: Stack, browser: Browser) -> None:
    sign_in(page, stack, "Flexco", stack.flexco.url)
    _, mpan = an_asset(page, stack)
    unit_id = create_unit(page, stack, "Queue site", mpan)
    page.goto(f"{stack.portal.url}/qualification-applications?unit={unit_id}")
    expect(page.locator("#f-UnitId")).to_have_value(unit_id)
    page.locator("#f-Product").fill("DSO_SU")
    page.get_by_role("button", name="Apply", exact=True).click()  # no capability claimed
    expect(page.locator("#summary")).to_contain_text("Not applied")
    expect(page.locator("#summary")).to_contain_text("QUAL-VAL-005")
    expect(page.locator("#f-Product")).to_have_value("DSO_SU")  # kept
    check_accessibility(page)
    screenshot(page, "qualification-apply-with-error")
    application = apply_for(page, stack, unit_id, "DSO_SU")
    expect(page.locator("#applications")).to_contain_text(application)
    expect(page.locator("#applications")).to_contain_text("requested")
    check_accessibility(page)

    # the DNO that runs DSO_SU finds it in its federated queue, every node's status shown
    dno = new_page(browser)
    try:
        sign_in(dno, stack, "Gridco", stack.fed.nodes["gridco"].url)
        dno.get_by_role("link", name="Qualification queue").first.click()
        expect(dno.locator("#node-status")).to_contain_text("answered")
        row = dno.locator("#queue tr", has_text=application)
        expect(row).to_contain_text("DSO_SU")
        check_accessibility(dno)
        screenshot(dno, "qualification-queue")
        row.get_by_role("button", name="Start assessing").click()
        expect(dno.locator("#notice")).to_contain_text("recorded")
        outcome = dno.locator("#outcomes tr", has_text=application)
        expect(outcome).to_contain_text("in_progress")
        # a rejection without a reason is refused with its rule ID; then with one
        outcome.get_by_label("New state").select_option("rejected")
        outcome.get_by_role("button", name="Move").click()
        expect(dno.locator("#summary")).to_contain_text("QUAL-VAL-023")
        outcome = dno.locator("#outcomes tr", has_text=application)
        outcome.get_by_label("New state").select_option("verified")  # no such move
        outcome.get_by_role("button", name="Move").click()
        expect(dno.locator("#summary")).to_contain_text("QUAL-VAL-022")
        check_accessibility(dno)
        screenshot(dno, "qualification-refused-move")
        outcome = dno.locator("#outcomes tr", has_text=application)
        outcome.get_by_label("New state").select_option("rejected")
        outcome.get_by_label("Reason").fill("Evidence does not show the unit's response.")
        outcome.get_by_role("button", name="Move").click()
        expect(dno.locator("#notice")).to_contain_text("moved")
        expect(dno.locator("#outcomes tr", has_text=application)).to_contain_text("rejected")
    finally:
        dno.context.close()

    # the FSP sees the outcome with its reason, from the DNO's node
    page.goto(f"{stack.portal.url}/qualification-applications")
    row = page.locator("#applications tr", has_text=application)
    expect(row).to_contain_text("rejected (Evidence does not show")
    screenshot(page, "qualification-applications")


def test_another_fsps_user_cannot_see_the_units(page: Page, stack: Stack,
                                                browser: Browser) -> None:
    sign_in(page, stack, "Flexco", stack.flexco.url)
    _, mpan = an_asset(page, stack)
    unit_id = create_unit(page, stack, "Private site", mpan)
    other = new_page(browser)
    try:  # Voltaflex's admin, through Flexco's node
        sign_in(other, stack, "Voltaflex", stack.flexco.url)
        other.goto(f"{stack.portal.url}/market-units")
        assert "Private site" not in other.locator("main").inner_text()
        answer = other.goto(f"{stack.portal.url}/market-units/{unit_id}")
        assert answer is not None and answer.status in (403, 404)
        assert "Private site" not in other.content()
        other.goto(f"{stack.portal.url}/eligibility/{unit_id}")
        assert "Private site" not in other.content() and "MW" not in other.content()
        # a forged write to Flexco's unit, with Voltaflex's own session: the node refuses
        other.goto(f"{stack.portal.url}/market-units")
        csrf = other.locator("input[name=csrf]").first.input_value()
        forged = other.request.post(
            f"{stack.portal.url}/market-units/{unit_id}/members",
            form={"csrf": csrf, "AssetId": stack.flexco_assets[0], "ValidFrom": "2026-01-01"})
        assert forged.status in (403, 404), forged.status
    finally:
        other.context.close()
    page.goto(f"{stack.portal.url}/market-units/{unit_id}")
    assert stack.flexco_assets[0] not in page.locator("#main").inner_text()  # no member


def limits_csv(tmp: Path, rows: list[dict[str, str]]) -> Path:
    path = tmp / "limits.csv"
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_dno_uploads_its_limits_with_a_bad_row_then_the_fix(
        page: Page, stack: Stack, tmp_path: Path) -> None:
    org = stack.fed.members["Flexco"].org_id
    good = {"MPAN": "1200023456789", "Site": "Fen Farm", "OrganisationId": org,
            "DNOConnection": "UKPN_EPN", "LimitType": "FIRM", "ExportLimit": "500",
            "ValidFrom": "2026-04-01"}
    bad = {**good, "MPAN": "1200023456797", "Site": "Marsh Lane", "ExportLimit": "-5"}
    sign_in(page, stack, "Gridco", stack.fed.nodes["gridco"].url)
    page.get_by_role("link", name="Connection limits").first.click()
    check_accessibility(page)
    page.get_by_label("CSV file").set_input_files(str(limits_csv(tmp_path, [good, bad])))
    page.get_by_role("button", name="Upload").click()
    summary = page.locator("#limits-summary")
    expect(summary).to_contain_text("2 rows received, 1 stored, 1 rejected")
    errors = page.locator("#limit-errors")
    expect(errors).to_contain_text("ExportLimit")
    check_accessibility(page)
    screenshot(page, "connection-limits-result")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the error report (CSV)").click()
    report = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert report and {r["row"] for r in report} == {"2"}
    assert all(r["rule"] for r in report)
    # the fix: the corrected row alone
    page.goto(f"{stack.portal.url}/connection-limits")
    page.get_by_label("CSV file").set_input_files(
        str(limits_csv(tmp_path, [{**bad, "ExportLimit": "250"}])))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#limits-summary")).to_contain_text("1 stored, 0 rejected")
    page.get_by_role("link", name="Connection limits").first.click()
    expect(page.locator("#limits")).to_contain_text("1200023456797")
    expect(page.locator("#limits")).to_contain_text("1200023456789")
    check_accessibility(page)
    screenshot(page, "connection-limits")


def xlsx(path: Path, rows: list[dict[str, str]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(rows[0]))
    for row in rows:
        sheet.append([float(v) if v.replace(".", "").isdigit() and len(v) < 13 else v
                      for v in row.values()])
    book.save(path)
    return path


def test_an_xlsx_upload_reports_a_bad_row_as_a_csv_does_then_the_fix(
        page: Page, stack: Stack, tmp_path: Path) -> None:
    good = {**GOOD, "AssetName": "XLSX battery 1", "SerialNumber": "XLSX-1",
            "ImportMPAN": "2000000000033"}
    bad = {**GOOD, "AssetName": "XLSX battery 2", "SerialNumber": "XLSX-2",
           "ImportMPAN": "2000000000042", "RatedCapacity": "-5"}
    sign_in(page, stack, "Flexco", stack.flexco.url)
    page.get_by_role("link", name="XLSX upload").first.click()
    check_accessibility(page)
    screenshot(page, "bulk-xlsx")
    # PORTAL-021: a file that is no workbook
    not_xlsx = tmp_path / "assets.xlsx"
    not_xlsx.write_text("AssetName\nBattery\n")
    page.get_by_label("XLSX file").set_input_files(str(not_xlsx))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#summary")).to_contain_text("PORTAL-021")
    page.get_by_label("XLSX file").set_input_files(str(xlsx(tmp_path / "two.xlsx",
                                                            [good, bad])))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#bulk-summary")).to_contain_text(
        "2 rows received, 1 stored, 1 rejected")
    expect(page.locator("main table")).to_contain_text("RatedCapacity")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the error report (CSV)").click()
    report = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert {r["row"] for r in report} == {"2"} and all(r["rule"] for r in report)
    page.goto(f"{stack.portal.url}/bulk-xlsx")
    page.get_by_label("XLSX file").set_input_files(str(xlsx(tmp_path / "fix.xlsx", [
        {**bad, "RatedCapacity": "500"}])))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#bulk-summary")).to_contain_text("1 stored, 0 rejected")


def test_PORTAL_020_an_upload_without_a_file_is_refused(page: Page, stack: Stack) -> None:
    sign_in(page, stack, "Gridco", stack.fed.nodes["gridco"].url)
    page.goto(f"{stack.portal.url}/connection-limits")
    csrf = page.locator("input[name=csrf]").first.input_value()
    answer = page.request.post(f"{stack.portal.url}/connection-limits",
                               multipart={"csrf": csrf, "mode": "store-valid"})
    assert answer.status == 400 and "PORTAL-020" in answer.text()
    forged = page.request.post(f"{stack.portal.url}/connection-limits",
                               multipart={"csrf": "x", "mode": "store-valid"})
    assert forged.status == 403 and "PORTAL-CSRF" in forged.text()
