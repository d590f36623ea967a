"""Provenance records (IB1 provenance-records/1.0): signed steps attached to a node's
answer on request (`FMAR-Provenance: include`), verified by the client (docs/design.md,
"Provenance")."""
