"""The listing and aggregation index: a projection of each current asset record's listing
and aggregate fields into an embedded SQL table (SQLite in the node's data directory), kept
in step with the record store by the audit log's sequence (docs/design.md, "The listing
index"). Listing pages, filters and aggregates are answered from it in time proportional
to the page or the number of groups; the record store stays the truth."""
