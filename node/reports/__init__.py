"""Reports for the regulator and the market facilitator (issue 15): definitions of
dimensions, measures and filters, computed at the nodes as disclosure-controlled aggregates
and merged by the federation engine, with exports (JSON, CSV, XLSX) and charts (SVG, PNG).
See docs/reports.md."""
