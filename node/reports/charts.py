"""Charts of a report's result with matplotlib (Figure objects drawn by the Agg and SVG backends, never pyplot: no global state, safe in a
server's threads): bars by category or area, lines over months, and a tile map of the 14
GSP groups. SVG keeps its text as text (`svg.fonttype: none`) and gives every bar, point
and tile an id (`bar-<label>`, `line-<chart>`, `tile-<GSP group>`), so tests and web pages
can read the chart's structure. Why matplotlib: docs/reports.md."""

from __future__ import annotations

import io
import math
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from node.reports.model import Chart
from node.reports.run import marginal

FORMATS = {"svg": "image/svg+xml", "png": "image/png"}
STYLE: dict[Any, Any] = {"svg.fonttype": "none", "svg.hashsalt": "fmar", "font.size": 9}
# GSP group -> (column, row from the top, name): a grid shaped roughly like GB
GSP_TILES: dict[str, tuple[int, int, str]] = {
    "_P": (1, 0, "North Scotland"), "_N": (1, 1, "South Scotland"),
    "_G": (1, 2, "North West"), "_F": (2, 2, "North East"),
    "_D": (0, 3, "Mersey & N Wales"), "_M": (2, 3, "Yorkshire"),
    "_K": (0, 4, "South Wales"), "_E": (1, 4, "Midlands"), "_B": (2, 4, "East Midlands"),
    "_A": (3, 4, "Eastern"),
    "_L": (0, 5, "South West"), "_H": (1, 5, "Southern"), "_C": (2, 5, "London"),
    "_J": (3, 5, "South East"),
}
COLOUR, INCOMPLETE, HIDDEN = "#2b6cb0", "#90cdf4", "#d9d9d9"


def series(result: dict[str, Any], chart: Chart) -> list[dict[str, Any]]:
    """The chart's points: the table's totals along `x` (published margins under
    disclosure control), the value in MW for sums."""
    points = []
    for entry in marginal(result["tables"][chart.table], chart.x):
        raw = entry[chart.value] if not entry["suppressed"] else None
        number = None if raw is None else (raw / 1000 if chart.value == "sum" else raw)
        points.append({"label": entry["key"], "value": number,
                       "suppressed": entry["suppressed"], "complete": entry["complete"]})
    return points


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def bars(points: list[dict[str, Any]], title: str, axis: str) -> Figure:
    figure = _figure(max(5.0, 0.55 * len(points) + 2), 3.6)
    ax = figure.add_subplot()
    for i, point in enumerate(points):
        if point["value"] is None:  # suppressed: a mark, never a number
            ax.text(i, 0, "suppressed", rotation=90, ha="center", va="bottom", fontsize=7,
                    color="#666666", gid=f"suppressed-{point['label']}")
            continue
        drawn = ax.bar(i, point["value"], color=COLOUR if point["complete"] else INCOMPLETE,
                       hatch=None if point["complete"] else "//")
        drawn.patches[0].set_gid(f"bar-{point['label']}")
    ax.set_xticks(range(len(points)), [p["label"] for p in points], rotation=45, ha="right")
    ax.set_title(title)
    ax.set_ylabel(axis)
    return figure


def lines(points: list[dict[str, Any]], title: str, axis: str, name: str) -> Figure:
    points = [p for p in points if p["label"] not in ("None", "")]
    figure = _figure(max(5.0, 0.25 * len(points) + 2), 3.4)
    ax = figure.add_subplot()
    values = [math.nan if p["value"] is None else p["value"] for p in points]
    (line,) = ax.plot(range(len(points)), values, marker="o", markersize=3, color=COLOUR)
    line.set_gid(f"line-{name}")
    step = max(1, len(points) // 12)
    ax.set_xticks(range(0, len(points), step), [p["label"] for p in points][::step],
                  rotation=45, ha="right")
    ax.set_title(title)
    ax.set_ylabel(axis)
    return figure


def tiles(points: list[dict[str, Any]], title: str, unit: str) -> Figure:
    by_group = {p["label"]: p for p in points}
    known = [p["value"] for p in points if p["value"] is not None]
    top = max(known, default=0) or 1
    figure = _figure(5.0, 6.2)
    ax = figure.add_subplot()
    for code, (col, row, name) in GSP_TILES.items():
        point = by_group.get(code)
        number = point["value"] if point else None
        shade = HIDDEN if number is None else _blend(number / top)
        tile = Rectangle((col, -row), 0.94, 0.94, facecolor=shade, edgecolor="white",
                         hatch="//" if point and point["suppressed"] else None)
        tile.set_gid(f"tile-{code}")
        ax.add_patch(tile)
        shown = ("suppressed" if point and point["suppressed"] else "no data"
                 if number is None else f"{number:,.0f} {unit}")
        dark = number is not None and number / top > 0.55
        ax.text(col + 0.47, -row + 0.62, f"{code} {name}", ha="center", va="center",
                fontsize=6.5, wrap=True, color="white" if dark else "black")
        ax.text(col + 0.47, -row + 0.3, shown, ha="center", va="center", fontsize=8,
                weight="bold", color="white" if dark else "black", gid=f"value-{code}")
    ax.set_xlim(-0.1, 4.0)
    ax.set_ylim(-5.1, 1.0)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title)
    return figure


def _blend(share: float) -> tuple[float, float, float]:
    low, high = (0.89, 0.94, 0.99), (0.10, 0.30, 0.55)
    share = min(1.0, max(0.0, share))
    return (low[0] + (high[0] - low[0]) * share, low[1] + (high[1] - low[1]) * share,
            low[2] + (high[2] - low[2]) * share)


def figure_of(result: dict[str, Any], chart: Chart) -> Figure:
    points = series(result, chart)
    source = result["tables"][chart.table].get("source", "assets")
    unit = "MW" if chart.value == "sum" else ("assets" if source == "assets" else "records")
    title = chart.title or chart.name
    if result.get("disclosure_control"):
        title += " — rounded, small cells suppressed"
    if chart.kind == "lines":
        return lines(points, title, unit, chart.name)
    if chart.kind == "tiles":
        return tiles(points, title, unit)
    return bars(points, title, unit)


def render(result: dict[str, Any], chart: Chart, fmt: str) -> bytes:
    with matplotlib.rc_context(STYLE):
        figure = figure_of(result, chart)
        out = io.BytesIO()
        figure.savefig(out, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    return out.getvalue()
