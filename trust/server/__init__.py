"""The trust framework service: directory, certificate authority, OAuth 2.0 / OIDC issuer,
its database and migrations. Nodes do not import it (import-linter)."""
