"""FMAR trust framework: directory, certificate authority and OAuth 2.0 / OIDC issuer."""
