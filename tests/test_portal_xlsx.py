"""The portal's XLSX reader (portal/xlsx.py): a workbook's first sheet becomes the CSV the
node's bulk upload takes, and a file that is no workbook is refused (PORTAL-021)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

import pytest
from openpyxl import Workbook

from portal.xlsx import NotAWorkbook, to_csv


def workbook(rows: list[list[object]]) -> io.BytesIO:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    out.seek(0)
    return out


def test_an_xlsx_sheet_becomes_the_csv_the_node_takes() -> None:
    text = to_csv(workbook([
        ["AssetName", "RatedCapacity", "EffectiveDate", "CanExport", "ImportMPAN", "Note"],
        ["Battery 1", 500.0, datetime(2025, 4, 1), True, "2000000000015", None],
        [None, None, None, None, None, None],  # an empty row is skipped
        ["Battery 2", 12.5, date(2025, 5, 2), False, 2000000000023, "  spaced  "]]))
    rows = list(csv.reader(io.StringIO(text.decode())))
    assert rows == [
        ["AssetName", "RatedCapacity", "EffectiveDate", "CanExport", "ImportMPAN", "Note"],
        ["Battery 1", "500", "2025-04-01", "true", "2000000000015", ""],
        ["Battery 2", "12.5", "2025-05-02", "false", "2000000000023", "spaced"]]


def test_PORTAL_021_a_file_that_is_no_workbook_is_refused() -> None:
    with pytest.raises(NotAWorkbook, match="not an XLSX workbook"):
        to_csv(io.BytesIO(b"AssetName,RatedCapacity\nBattery,5\n"))
