"""The FMAR web portal: server-rendered pages (FastAPI + Jinja2) for FSPs, system
operators, the regulator and the market facilitator. It signs people in at the trust
framework (authorization code + PKCE through PAR) and calls the nodes' public HTTP APIs
with the signed-in person's own token, kept server-side; see docs/portal.md."""
