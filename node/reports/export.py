"""A report's result as JSON, CSV or XLSX. Every format keeps the marks: a suppressed cell
says so (no number), a cell missing a node's suppressed part is `complete: no`, and the
nodes' statuses travel with the numbers."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from openpyxl import Workbook

FORMATS = {"json": "application/json", "csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
COLUMNS = ["table", "measure", "dimensions", "group", "count", "sum_kW", "suppressed",
           "complete", "margin"]


def rows(result: dict[str, Any]) -> list[list[Any]]:
    """One row per cell and margin of every table (long form: tables differ in dimensions)."""
    out: list[list[Any]] = []
    for name, table in result["tables"].items():
        dims = table["group_by"]
        for margin, cells in ((False, table.get("cells", [])), (True, table.get("margins", []))):
            for cell in cells:
                group = "; ".join(f"{d}={cell['group'].get(d)}" for d in dims)
                hidden = bool(cell.get("suppressed"))
                out.append([name, table.get("measure", "rated"), ",".join(dims), group,
                            None if hidden else cell.get("count"),
                            None if hidden else cell.get("sum"),
                            "yes" if hidden else "no",
                            "no" if hidden or not cell.get("complete", True) else "yes",
                            "yes" if margin else "no"])
    return out


def to_json(result: dict[str, Any]) -> bytes:
    return json.dumps(result, indent=2, ensure_ascii=False).encode()


def to_csv(result: dict[str, Any]) -> bytes:
    """The cells only (the run's facts and the nodes' statuses are in JSON and XLSX)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows(result))
    return text.getvalue().encode()


def to_xlsx(result: dict[str, Any]) -> bytes:
    """Sheet "cells": the long table; "nodes": each node's status; "about": the run."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "cells"
    sheet.append(COLUMNS)
    for row in rows(result):
        sheet.append(row)
    nodes = book.create_sheet("nodes")
    nodes.append(["node", "status", "ms", "code"])
    for status in result["nodes"]:
        nodes.append([status["node"], status["status"], status["ms"], status.get("code")])
    about = book.create_sheet("about")
    for key in ("report", "version", "title", "ran_at", "partial", "disclosure_control"):
        about.append([key, str(result.get(key))])
    if result.get("quality"):
        about.append(["data quality score", result["quality"]["score"]])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def render(result: dict[str, Any], fmt: str) -> bytes:
    return {"json": to_json, "csv": to_csv, "xlsx": to_xlsx}[fmt](result)
