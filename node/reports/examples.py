"""Writes one example of each chart to docs/reports/ (SVG and PNG), from generated assets
computed in memory: `python -m node.reports.examples [directory]`."""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

from examples.generate import assets
from node.reports import charts
from node.reports.builtin import BUILTIN
from node.reports.local import answer_from_rows
from node.reports.run import assemble

EXAMPLES = (("capacity", "by_category"), ("capacity", "by_dno"), ("capacity", "gsp_map"),
            ("growth", "registrations"), ("growth", "effective_capacity"))
DNOS = ["UKPN_EPN", "UKPN_SPN", "UKPN_LPN", "ENWL", "NPG_NE", "NPG_YK", "SPEN_SPD",
        "SPEN_SPM", "SSEN_SHEPD", "SSEN_SEPD", "NGED_EMID", "NGED_WMID", "NGED_WALES",
        "NGED_SWEST"]


def example_rows(count: int = 3000) -> list[dict[str, Any]]:
    rng = random.Random(15)
    rows = list(assets(count, "EXAMPLE-ORG", seed=15, dnos=DNOS))
    for row in rows:  # registration months over two years, and a validation state
        row["Created"] = f"20{rng.choice([24, 25])}-{rng.randint(1, 12):02d}-15T12:00:00Z"
        row["ValidationStatus"] = rng.choices(["Verified", "Pending", "Query"], [80, 15, 5])[0]
    return rows


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "docs/reports")
    out.mkdir(parents=True, exist_ok=True)
    rows = example_rows()
    for report, chart_name in EXAMPLES:
        definition = BUILTIN[report]
        result = assemble(definition, answer_from_rows(definition, rows))
        chart = next(c for c in definition.charts if c.name == chart_name)
        for fmt in charts.FORMATS:
            path = out / f"{report}-{chart_name}.{fmt}"
            path.write_bytes(charts.render(result, chart, fmt))
            print(path)


if __name__ == "__main__":
    main()
