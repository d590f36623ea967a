"""A corpus of records in Elexon's own columns, through a running node.

tests/corpus/elexon_assets.csv holds assets written from Elexon's attribute definitions
and code lists (/work/shared/reference: asset attributes, code catalogue), valid and
invalid, each with the outcome expected: `ok`, or `refused` with the exact set of rule
IDs. The columns other than `case`, `expected` and `rules` are Elexon's attribute names
(plus OtherDescription, which Elexon's catalogue requires for OTHER); none of FMAR's own
hints (CanImport, CanExport, V2GCapable) appear, so a rule that needs them fails here.
The whole file goes to `POST /assets/bulk` as CSV, and each refused row once more to
`POST /assets` as JSON, where the same rules must come back.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import pytest

CORPUS = Path(__file__).with_name("corpus") / "elexon_assets.csv"
META = ("case", "expected", "rules")


def corpus() -> list[dict[str, str]]:
    with CORPUS.open(newline="") as f:
        return list(csv.DictReader(f))


def as_csv(rows: list[dict[str, str]]) -> str:
    columns = [c for c in rows[0] if c not in META]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def test_corpus_is_broad() -> None:
    rows = corpus()
    outcomes = Counter(r["expected"] for r in rows)
    assert len(rows) >= 40 and outcomes["ok"] >= 20 and outcomes["refused"] >= 20
    assert {r["AssetCategory"] for r in rows if r["expected"] == "ok"} >= {
        "BESS", "SOLAR_PV", "WIND_TURBINE", "EV_CHARGER", "HEAT_PUMP", "ELECTRIC_BOILER",
        "HVAC", "REFRIGERATION", "INDUSTRIAL_LOAD", "CHP", "OTHER"}
    for r in rows:
        assert (r["expected"] == "ok") == (r["rules"] == ""), r["case"]
        assert not {"CanImport", "CanExport", "V2GCapable"} & set(r), "not Elexon attributes"


def test_elexon_corpus_through_a_node(node) -> None:
    rows = corpus()
    with node.client() as c:
        response = c.post("/assets/bulk", params={"mode": "store-valid"}, content=as_csv(rows),
                          headers={"Content-Type": "text/csv"})
    assert response.status_code == 207, response.text
    details = response.json()["details"]
    errors = {e["row"]: e["violations"] for e in details["errors"]}
    stored = {a["row"] for a in details["assets"]}
    wrong = []
    for index, row in enumerate(rows, start=1):
        if row["expected"] == "ok":
            if index not in stored:
                wrong.append((row["case"], "refused", errors.get(index)))
            continue
        found = [v["rule"] for v in errors.get(index, [])]
        if set(found) != set(row["rules"].split()):
            wrong.append((row["case"], row["rules"], errors.get(index)))
        # each violation once (no repeats with value null, no three for one bad number)
        keys = [(v["rule"], v.get("path"), v.get("value")) for v in errors.get(index, [])]
        if len(keys) != len(set(keys)):
            wrong.append((row["case"], "repeated violation", errors.get(index)))
    assert not wrong, wrong
    assert details["stored"] == sum(r["expected"] == "ok" for r in rows)


@pytest.mark.parametrize("row", [r for r in corpus() if r["expected"] == "refused"],
                         ids=lambda r: r["rules"].replace(" ", "+") + ":" + r["case"])
def test_refused_corpus_row_as_json(node, row: dict[str, str]) -> None:
    body = {k: v for k, v in row.items() if k not in META and v != ""}
    body["SerialNumber"] = body.get("SerialNumber", "") + "-json"  # not a duplicate of the bulk run
    with node.client() as c:
        response = c.post("/assets", json=body)
    expected = set(row["rules"].split())
    if expected == {"POL-002"}:
        assert (response.status_code, response.json()["code"]) == (403, "POL-002")
        return
    assert (response.status_code, response.json()["code"]) == (422, "ARM-VAL"), response.text
    violations = response.json()["details"]["violations"]
    assert {v["rule"] for v in violations} == expected, violations
    assert all(v["message"].startswith(f"[{v['rule']}]") for v in violations)
