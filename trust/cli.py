"""`fmar` commands of the trust framework (trust, org, user, app, node, cert, token, login)."""

from __future__ import annotations

import getpass
import json
import os
import time
from pathlib import Path
from typing import Any

import typer

trust_app = typer.Typer(help="Run the trust framework (directory, CA, OAuth issuer).",
                        no_args_is_help=True)
org_app = typer.Typer(help="Organisations in the directory.", no_args_is_help=True)
user_app = typer.Typer(help="Users of an organisation.", no_args_is_help=True)
app_app = typer.Typer(help="Applications (OAuth clients) of an organisation.",
                      no_args_is_help=True)
node_app = typer.Typer(help="Nodes of an organisation.", no_args_is_help=True)
cert_app = typer.Typer(help="Certificates from the federation CA.", no_args_is_help=True)

DATA = typer.Option(None, "--data", envvar="FMAR_TRUST_DATA", help="Trust data directory.")


def _data_dir(data: Path | None) -> Path:
    return (data or Path("var/trust")).resolve()


@trust_app.command("init")
def trust_init(
    data: Path | None = DATA,
    issuer: str = typer.Option("https://127.0.0.1:8443", envvar="FMAR_TRUST_ISSUER",
                               help="Public base URL of the trust service."),
    database_url: str | None = typer.Option(None, envvar="FMAR_TRUST_DATABASE_URL",
                                            help="PostgreSQL URL; SQLite in --data if omitted."),
    admin_email: str = typer.Option(..., prompt=True, help="E-mail of the first operator admin."),
    admin_password: str | None = typer.Option(None, envvar="FMAR_ADMIN_PASSWORD",
                                              help="Password (prompted if omitted)."),
    host: list[str] = typer.Option(["127.0.0.1", "localhost"], help="TLS names of the service."),
) -> None:
    """Create the CA, the token signing key, the operator and its first admin."""
    from trust.bootstrap import init
    from trust.config import TrustSettings

    password = admin_password or getpass.getpass("Operator admin password (10+ chars): ")
    settings = TrustSettings(data_dir=_data_dir(data), issuer=issuer, database_url=database_url)
    state = init(settings, admin_email=admin_email, admin_password=password, hosts=tuple(host))
    typer.echo(json.dumps(state, indent=2))


@trust_app.command("serve")
def trust_serve(
    data: Path | None = DATA,
    host: str = "127.0.0.1",
    port: int = 8443,
    issuer: str | None = typer.Option(None, envvar="FMAR_TRUST_ISSUER"),
    database_url: str | None = typer.Option(None, envvar="FMAR_TRUST_DATABASE_URL"),
) -> None:
    """Serve the trust framework over TLS (client certificates optional, checked per client)."""
    import uvicorn

    from trust.bootstrap import settings_for
    from trust.db import migrate
    from trust.service import create_app
    from trust.tls import uvicorn_tls_options

    settings = settings_for(_data_dir(data), issuer, database_url)
    migrate(settings.db_url)
    tls = settings.data_dir / "tls"
    config = uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning",
                            **uvicorn_tls_options(tls / "server.pem", tls / "server.key",
                                                  settings.ca_dir / "chain.pem"))
    uvicorn.Server(config).run()


@trust_app.command("rotate-key")
def trust_rotate_key(data: Path | None = DATA) -> None:
    """Start a new token signing key; the old one stays in the JWKS until its tokens expire."""
    from sqlmodel import Session

    from trust import keys
    from trust.bootstrap import settings_for
    from trust.db import make_engine

    settings = settings_for(_data_dir(data))
    with Session(make_engine(settings.db_url)) as session:
        row = keys.rotate(session)
        session.commit()
        typer.echo(row.kid)


# Client side: these talk to a running trust service over HTTPS. -------------------

def _session_file() -> Path:
    home = Path(os.environ.get("FMAR_HOME", Path.home() / ".config" / "fmar"))
    return home / "session.json"


def _load_session() -> dict[str, Any]:
    path = _session_file()
    if not path.exists():
        raise typer.BadParameter("Not logged in: run `fmar login` first.")
    return json.loads(path.read_text())


def _client(trust: str | None = None, ca: Path | None = None, auth: bool = True):  # type: ignore[no-untyped-def]
    from trust import http

    session = _load_session() if auth or not (trust and ca) else {}
    base = trust or session.get("trust")
    bundle = ca or session.get("ca_bundle")
    headers = {"Authorization": f"Bearer {session['access_token']}"} if auth else {}
    return http.client(ca_bundle=bundle, base_url=base, headers=headers, timeout=30)


def _show(resp) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    try:
        body = resp.json()
    except ValueError:
        body = {"status": resp.status_code, "text": resp.text}
    typer.echo(json.dumps(body, indent=2))
    if resp.status_code >= 400:
        raise typer.Exit(1)
    return body


TRUST = typer.Option(None, "--trust", envvar="FMAR_TRUST_URL", help="Trust service URL.")
CA = typer.Option(None, "--ca", envvar="FMAR_CA_BUNDLE", help="Federation CA chain (PEM).")


def login(
    trust: str = typer.Option(..., "--trust", envvar="FMAR_TRUST_URL"),
    ca: Path = typer.Option(..., "--ca", envvar="FMAR_CA_BUNDLE"),
    client_id: str | None = typer.Option(None, help="CLI client id (from the discovery)."),
) -> None:
    """Log in as a person through the device authorization grant (RFC 8628)."""
    from trust import http

    with http.client(ca_bundle=ca, base_url=trust, timeout=30) as c:
        cid = client_id or c.get("/api/cli-client").json()["client_id"]
        start = c.post("/device_authorization", data={"client_id": cid}).json()
        typer.echo(f"Open {start['verification_uri']} and enter the code {start['user_code']}")
        typer.echo(f"  ({start['verification_uri_complete']})")
        deadline = time.time() + start["expires_in"]
        interval = start["interval"]
        while time.time() < deadline:
            time.sleep(interval)
            resp = c.post("/token", data={"grant_type":
                                          "urn:ietf:params:oauth:grant-type:device_code",
                                          "device_code": start["device_code"], "client_id": cid})
            body = resp.json()
            if resp.status_code == 200:
                path = _session_file()
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps({"trust": trust, "ca_bundle": str(Path(ca).resolve()),
                                            **body}))
                os.chmod(path, 0o600)
                typer.echo("Logged in.")
                return
            if body.get("error") == "slow_down":
                interval += 1
            elif body.get("error") != "authorization_pending":
                typer.echo(json.dumps(body, indent=2))
                raise typer.Exit(1)
    typer.echo("The login timed out.")
    raise typer.Exit(1)


@org_app.command("register")
def org_register(file: Path = typer.Argument(..., help="JSON: organisation and first admin."),
                 trust: str | None = TRUST, ca: Path | None = CA) -> None:
    """Apply to join (UC-01.2); the organisation waits for the operator's approval."""
    with _client(trust, ca, auth=False) as c:
        _show(c.post("/api/orgs", json=json.loads(file.read_text())))


@org_app.command("status")
def org_status(org_id: str, status: str = typer.Argument(..., help="Active or Suspended"),
               reason: str = "") -> None:
    """Approve, suspend or reinstate an organisation (operator)."""
    with _client() as c:
        _show(c.post(f"/api/orgs/{org_id}/status", json={"status": status, "reason": reason}))


@org_app.command("deregister")
def org_deregister(org_id: str, reason: str = "") -> None:
    """De-register (UC-01.3): refused while the organisation's nodes hold active records."""
    with _client() as c:
        _show(c.post(f"/api/orgs/{org_id}/deregister", json={"reason": reason}))


@org_app.command("show")
def org_show(org_id: str) -> None:
    with _client() as c:
        _show(c.get(f"/api/orgs/{org_id}"))


@user_app.command("add")
def user_add(org: str = typer.Option(...), email: str = typer.Option(...),
             name: str = typer.Option(...), role: str = "viewer",
             password: str | None = typer.Option(None, envvar="FMAR_USER_PASSWORD")) -> None:
    """An organisation admin registers a user (admin, editor or viewer)."""
    secret = password or getpass.getpass("Password for the new user (10+ chars): ")
    with _client() as c:
        _show(c.post(f"/api/orgs/{org}/users", json={"email": email, "name": name, "role": role,
                                                     "password": secret}))


@user_app.command("deactivate")
def user_deactivate(user_id: str) -> None:
    with _client() as c:
        _show(c.post(f"/api/users/{user_id}/deactivate"))


@app_app.command("create")
def app_create(org: str = typer.Option(...), name: str = typer.Option(...),
               role: list[str] = typer.Option([], help="Roles (default: all of the org's).")) -> None:
    with _client() as c:
        _show(c.post(f"/api/orgs/{org}/apps", json={"name": name, "roles": role}))


@node_app.command("add")
def node_add(org: str = typer.Option(...), url: str = typer.Option(...),
             dataset_type: list[str] = typer.Option([])) -> None:
    with _client() as c:
        _show(c.post(f"/api/orgs/{org}/nodes", json={"url": url, "dataset_types": dataset_type}))


@cert_app.command("request")
def cert_request(out: Path = typer.Option(..., help="Directory for key, certificate, chain."),
                 app: str | None = typer.Option(None, help="Application id."),
                 node: str | None = typer.Option(None, help="Node id (TLS server cert)."),
                 kind: str = typer.Option("client", help="client or signing (applications)."),
                 renew: str | None = typer.Option(None, help="Serial of a cert to renew.")) -> None:
    """Make a P-256 key and CSR here (the key never leaves), get the certificate."""
    from trust.ca import make_key_and_csr

    if not (app or node or renew):
        raise typer.BadParameter("Give --app, --node or --renew.")
    key_pem, csr_pem = make_key_and_csr()
    path = (f"/api/certificates/{renew}/renew" if renew else
            f"/api/apps/{app}/certificates" if app else f"/api/nodes/{node}/certificates")
    with _client() as c:
        resp = c.post(path, json={"csr_pem": csr_pem.decode(), "kind": kind})
    if resp.status_code >= 400:
        _show(resp)
    body = resp.json()
    out.mkdir(parents=True, exist_ok=True)
    name = "server" if node else kind
    (out / f"{name}.key").write_bytes(key_pem)
    os.chmod(out / f"{name}.key", 0o600)
    (out / f"{name}.pem").write_text(body["pem"])
    (out / "chain.pem").write_text(body["chain_pem"])
    typer.echo(json.dumps({"serial": body["serial"], "x5t#S256": body["sha256"],
                           "certificate": str(out / f"{name}.pem"),
                           "key": str(out / f"{name}.key")}, indent=2))


def token(app_id: str = typer.Option(..., "--app"), cert: Path = typer.Option(...),
          key: Path = typer.Option(...), audience: str = typer.Option(...),
          scope: str = "", trust: str | None = TRUST, ca: Path | None = CA) -> None:
    """Get an access token with client credentials over mTLS (bound to the certificate)."""
    from trust import http

    with http.client(ca_bundle=ca, cert=cert, key=key, base_url=trust or "") as c:
        data = {"grant_type": "client_credentials", "client_id": app_id, "audience": audience}
        if scope:
            data["scope"] = scope
        _show(c.post("/token", data=data))


def register(app: typer.Typer) -> None:
    """Attach the trust framework's command groups to the `fmar` CLI."""
    app.add_typer(trust_app, name="trust")
    app.add_typer(org_app, name="org")
    app.add_typer(user_app, name="user")
    app.add_typer(app_app, name="app")
    app.add_typer(node_app, name="node")
    app.add_typer(cert_app, name="cert")
    app.command("login")(login)
    app.command("token")(token)
