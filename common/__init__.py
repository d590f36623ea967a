"""What node and trust share: domain errors, media types, vocabulary, roles, the TLS client.

`common` imports neither `node` nor `trust` (checked by import-linter in `make test`).
"""
