"""An XLSX workbook's first sheet as the CSV the node's bulk upload takes: the first row
its column names, one asset a row. Dates become YYYY-MM-DD, whole numbers lose their
".0", booleans become true/false; the node judges every value as it would in a CSV."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime
from typing import IO, Any

from openpyxl import load_workbook

MAX_ROWS = 100_000


class NotAWorkbook(ValueError):
    """PORTAL-021: the file is not an XLSX workbook openpyxl can read."""


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() \
            else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def to_csv(source: IO[bytes]) -> bytes:
    """The first sheet as CSV (UTF-8); empty rows are skipped."""
    try:
        book = load_workbook(source, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise NotAWorkbook(f"This file is not an XLSX workbook ({exc}).") from exc
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            raise NotAWorkbook("The workbook has no sheet.")
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for n, row in enumerate(sheet.iter_rows(values_only=True)):
            if n > MAX_ROWS:
                raise NotAWorkbook(f"The sheet has more than {MAX_ROWS} rows.")
            cells = [cell_text(v) for v in row]
            if any(cells):
                writer.writerow(cells)
        return out.getvalue().encode()
    finally:
        book.close()
