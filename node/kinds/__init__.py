"""One module per record kind, each declaring a `RecordKind` (node/records/kind.py):
assets, categories and connection limits. See docs/design.md, "Adding a record kind"."""
