"""`fmar` commands of the trust framework (trust, org, user, app, node, cert, token, login)."""

from __future__ import annotations

import getpass
import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

trust_app = typer.Typer(help="Run the trust framework (directory, CA, OAuth issuer).",
                        no_args_is_help=True)
org_app = typer.Typer(help="Organisations in the directory.", no_args_is_help=True)
user_app = typer.Typer(help="Users of an organisation.", no_args_is_help=True)
app_app = typer.Typer(help="Applications (OAuth clients) of an organisation.",
                      no_args_is_help=True)
node_app = typer.Typer(help="Nodes of an organisation.", no_args_is_help=True)
cert_app = typer.Typer(help="Certificates from the federation CA.", no_args_is_help=True)

Data = Annotated[Path | None, typer.Option("--data", envvar="FMAR_TRUST_DATA",
                                           help="Trust data directory [default: var/trust].")]
DatabaseUrl = Annotated[str | None, typer.Option(envvar="FMAR_TRUST_DATABASE_URL",
                                                 help="PostgreSQL URL; SQLite in --data if "
                                                 "omitted.")]
# One name per thing in every `fmar` command, each also read from the FMAR_* variable that
# a member's env.sh sets (the older --trust, --ca and --app still work).
TrustUrl = Annotated[str | None, typer.Option("--trust-url", "--trust", envvar="FMAR_TRUST_URL",
                                              help="Trust framework URL.")]
CaBundle = Annotated[Path | None, typer.Option("--ca-bundle", "--ca", envvar="FMAR_CA_BUNDLE",
                                               help="Federation CA chain (PEM).")]
ClientId = Annotated[str | None, typer.Option("--client-id", "--app", envvar="FMAR_CLIENT_ID",
                                              help="Your application id (OAuth client_id).")]


def _data_dir(data: Path | None) -> Path:
    return (data or Path("var/trust")).resolve()


@trust_app.command("init")
def trust_init(
    admin_email: Annotated[str, typer.Option(prompt=True, help="E-mail of the first operator "
                                             "admin.")],
    data: Data = None,
    issuer: Annotated[str, typer.Option(envvar="FMAR_TRUST_ISSUER", help="Public base URL of "
                                        "the trust service.")] = "https://127.0.0.1:8443",
    database_url: DatabaseUrl = None,
    admin_password: Annotated[str | None, typer.Option(envvar="FMAR_ADMIN_PASSWORD",
                                                       help="Prompted if omitted.")] = None,
    host: Annotated[list[str] | None, typer.Option(help="TLS names of the service "
                                                   "[default: 127.0.0.1, localhost].")] = None,
) -> None:
    """Create the CA, the token signing key, the operator and its first admin."""
    from trust.bootstrap import init
    from trust.config import TrustSettings

    password = admin_password or getpass.getpass("Operator admin password (10+ chars): ")
    settings = TrustSettings(data_dir=_data_dir(data), issuer=issuer, database_url=database_url)
    state = init(settings, admin_email=admin_email, admin_password=password,
                 hosts=tuple(host or ("127.0.0.1", "localhost")))
    typer.echo(json.dumps(state, indent=2))


@trust_app.command("serve")
def trust_serve(
    data: Data = None,
    host: str = "127.0.0.1",
    port: int = 8443,
    issuer: Annotated[str | None, typer.Option(envvar="FMAR_TRUST_ISSUER")] = None,
    database_url: DatabaseUrl = None,
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
def trust_rotate_key(data: Data = None) -> None:
    """Start a new token signing key; the old one stays in the JWKS until its tokens expire."""
    from sqlmodel import Session

    from trust import keys
    from trust.bootstrap import settings_for
    from trust.db import make_engine

    settings = settings_for(_data_dir(data))
    engine = make_engine(settings.db_url)
    with Session(engine) as session:
        row = keys.rotate(session)
        session.commit()
        typer.echo(row.kid)
    engine.dispose()


# Client side: these talk to a running trust service over HTTPS. -------------------

def _session_file() -> Path:
    home = Path(os.environ.get("FMAR_HOME", Path.home() / ".config" / "fmar"))
    return home / "session.json"


def _load_session() -> dict[str, Any]:
    path = _session_file()
    if not path.exists():
        typer.echo("Not logged in: run `fmar login` first.", err=True)
        raise typer.Exit(2)
    return json.loads(path.read_text())


def _client(trust: str | None = None, ca: Path | None = None, auth: bool = True) -> httpx.Client:
    from trust import http

    session = _load_session() if auth or not (trust and ca) else {}
    headers = {"Authorization": f"Bearer {session['access_token']}"} if auth else {}
    return http.client(ca_bundle=ca or session.get("ca_bundle"),
                       base_url=trust or session.get("trust", ""), headers=headers, timeout=30)


def _show(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        body = {"status": resp.status_code, "text": resp.text}
    typer.echo(json.dumps(body, indent=2))
    if resp.status_code >= 400:
        raise typer.Exit(1)
    return body


def _save_login(trust: str, ca: Path, body: dict[str, Any]) -> None:
    path = _session_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"trust": trust, "ca_bundle": str(Path(ca).resolve()), **body}))
    path.chmod(0o600)
    typer.echo("Logged in.")


def _loopback_login(c: httpx.Client, cid: str, trust: str, ca: Path, open_browser: bool) -> None:
    """Authorization code + PKCE through PAR, the code coming back to a loopback listener."""
    import secrets
    import webbrowser
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from urllib.parse import parse_qs, urlencode, urlsplit

    from trust.grants import s256

    received: dict[str, str] = {}

    class Callback(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            received.update({k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()})
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<!doctype html><p>Signed in. You can close this tab.</p>")

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Callback)
    server.timeout = 1
    redirect = f"http://127.0.0.1:{server.server_port}/callback"
    verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(12)
    pushed = c.post("/par", data={"client_id": cid, "response_type": "code",
                                  "redirect_uri": redirect, "code_challenge": s256(verifier),
                                  "code_challenge_method": "S256", "state": state})
    if pushed.status_code != 201:
        _show(pushed)
    url = f"{trust}/authorize?" + urlencode({"client_id": cid,
                                            "request_uri": pushed.json()["request_uri"]})
    typer.echo(f"Open {url}")
    if open_browser:
        webbrowser.open(url)
    deadline = time.time() + 300
    while "code" not in received and time.time() < deadline:
        server.handle_request()
    server.server_close()
    if (received.get("state") != state or "code" not in received
            or received.get("iss", trust.rstrip("/")) != trust.rstrip("/")):
        typer.echo("The login did not complete.", err=True)
        raise typer.Exit(1)
    resp = c.post("/token", data={"grant_type": "authorization_code", "client_id": cid,
                                  "code": received["code"], "redirect_uri": redirect,
                                  "code_verifier": verifier})
    if resp.status_code != 200:
        _show(resp)
    _save_login(trust, ca, resp.json())


def login(
    trust: Annotated[str, typer.Option("--trust-url", "--trust", envvar="FMAR_TRUST_URL",
                                       help="Trust framework URL.")],
    ca: Annotated[Path, typer.Option("--ca-bundle", "--ca", envvar="FMAR_CA_BUNDLE",
                                     help="Federation CA chain (PEM).")],
    client_id: Annotated[str | None, typer.Option(help="Public client id (default: the "
                                                  "trust framework's CLI client).")] = None,
    browser: Annotated[bool, typer.Option(help="Log in in a browser with a loopback redirect "
                                          "(PKCE) instead of a device code.")] = False,
    open_browser: Annotated[bool, typer.Option(help="Open the browser (with --browser).")] = True,
) -> None:
    """Log in as a person: device authorization grant (RFC 8628) or, with --browser, the
    authorization code flow with PKCE and a loopback redirect (RFC 8252)."""
    from trust import http
    from trust.grants import DEVICE_CODE

    with http.client(ca_bundle=ca, base_url=trust, timeout=30) as c:
        cid = client_id or c.get("/api/cli-client").json()["client_id"]
        if browser:
            _loopback_login(c, cid, trust, ca, open_browser)
            return
        start = c.post("/device_authorization", data={"client_id": cid}).json()
        typer.echo(f"Open {start['verification_uri']} and enter the code {start['user_code']}")
        typer.echo(f"  ({start['verification_uri_complete']})")
        deadline, interval = time.time() + start["expires_in"], start["interval"]
        while time.time() < deadline:
            time.sleep(interval)
            resp = c.post("/token", data={"grant_type": DEVICE_CODE, "client_id": cid,
                                          "device_code": start["device_code"]})
            body = resp.json()
            if resp.status_code == 200:
                _save_login(trust, ca, body)
                return
            if body.get("error") == "slow_down":
                interval += 1
            elif body.get("error") != "authorization_pending":
                _show(resp)
    typer.echo("The login timed out.", err=True)
    raise typer.Exit(1)


@org_app.command("register")
def org_register(
    file: Annotated[Path, typer.Argument(help="JSON: the organisation and its first admin.")],
    trust: TrustUrl = None, ca: CaBundle = None,
) -> None:
    """Apply to join (UC-01.2); the organisation waits for the operator's approval."""
    with _client(trust, ca, auth=not (trust and ca)) as c:
        _show(c.post("/api/orgs", json=json.loads(file.read_text())))


@org_app.command("status")
def org_status(org_id: str,
               status: Annotated[str, typer.Argument(help="Active or Suspended")],
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
    """Show an organisation's directory entry (its admins and the operator see all of it)."""
    with _client() as c:
        _show(c.get(f"/api/orgs/{org_id}"))


@user_app.command("add")
def user_add(
    org: Annotated[str, typer.Option(help="Organisation id.")],
    email: Annotated[str, typer.Option()],
    name: Annotated[str, typer.Option()],
    role: Annotated[str, typer.Option(help="admin, editor or viewer")] = "viewer",
    password: Annotated[str | None, typer.Option(envvar="FMAR_USER_PASSWORD",
                                                 help="Prompted if omitted.")] = None,
) -> None:
    """An organisation admin registers a user."""
    secret = password or getpass.getpass("Password for the new user (10+ chars): ")
    with _client() as c:
        _show(c.post(f"/api/orgs/{org}/users", json={"email": email, "name": name, "role": role,
                                                     "password": secret}))


@user_app.command("deactivate")
def user_deactivate(user_id: str) -> None:
    """Deactivate a user (an admin of the user's organisation, or the operator); their
    tokens stop working."""
    with _client() as c:
        _show(c.post(f"/api/users/{user_id}/deactivate"))


@app_app.command("create")
def app_create(
    org: Annotated[str, typer.Option(help="Organisation id.")],
    name: Annotated[str, typer.Option()],
    role: Annotated[list[str] | None, typer.Option(help="Roles (default: the org's).")] = None,
) -> None:
    """Register an application (an OAuth client) of an organisation; then get its client
    certificate with `fmar cert request --app`."""
    with _client() as c:
        _show(c.post(f"/api/orgs/{org}/apps", json={"name": name, "roles": role or []}))


@node_app.command("add")
def node_add(
    org: Annotated[str, typer.Option(help="Organisation id.")],
    url: Annotated[str, typer.Option(help="Base URL of the node, https://...")],
    dataset_type: Annotated[list[str] | None, typer.Option(help="What it serves.")] = None,
) -> None:
    """List an organisation's node in the directory (URL and what it serves); then get its
    server certificate with `fmar cert request --node`."""
    with _client() as c:
        _show(c.post(f"/api/orgs/{org}/nodes", json={"url": url,
                                                     "dataset_types": dataset_type or []}))


@cert_app.command("request")
def cert_request(
    out: Annotated[Path, typer.Option(help="Directory for the key, certificate and chain.")],
    app: Annotated[str | None, typer.Option(help="Application id.")] = None,
    node: Annotated[str | None, typer.Option(help="Node id (a TLS server certificate).")] = None,
    kind: Annotated[str, typer.Option(help="client or signing (applications)")] = "client",
    renew: Annotated[str | None, typer.Option(help="Serial of a certificate to renew.")] = None,
) -> None:
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
    (out / f"{name}.key").chmod(0o600)
    (out / f"{name}.pem").write_text(body["pem"])
    (out / "chain.pem").write_text(body["chain_pem"])
    typer.echo(json.dumps({"serial": body["serial"], "x5t#S256": body["sha256"],
                           "certificate": str(out / f"{name}.pem"),
                           "key": str(out / f"{name}.key")}, indent=2))


@cert_app.command("revoke")
def cert_revoke(serial: str) -> None:
    """Revoke a certificate (it appears on the CRL that nodes check)."""
    with _client() as c:
        _show(c.post(f"/api/certificates/{serial}/revoke"))


def token(
    audience: Annotated[str, typer.Option(envvar="FMAR_NODE_URL",
                                          help="URL of the node the token is for.")],
    client_id: Annotated[str, typer.Option("--client-id", "--app", envvar="FMAR_CLIENT_ID",
                                           help="Your application id (OAuth client_id).")],
    cert: Annotated[Path, typer.Option(envvar="FMAR_CLIENT_CERT",
                                       help="Client certificate (PEM).")],
    key: Annotated[Path, typer.Option(envvar="FMAR_CLIENT_KEY", help="Its private key (PEM).")],
    scope: Annotated[str, typer.Option(help="Scopes, space separated (default: all the "
                                       "application's).")] = "",
    trust: TrustUrl = None,
    ca: CaBundle = None,
    bare: Annotated[bool, typer.Option("--bare", help="Print only the access token, for "
                                       "TOKEN=$(fmar token --bare).")] = False,
) -> None:
    """Get an access token with client credentials over mTLS (bound to the certificate)."""
    from trust import http

    if not trust:
        raise typer.BadParameter("give --trust-url or FMAR_TRUST_URL", param_hint="--trust-url")
    with http.client(ca_bundle=ca, cert=cert, key=key, base_url=trust) as c:
        data = {"grant_type": "client_credentials", "client_id": client_id, "audience": audience}
        if scope:
            data["scope"] = scope
        resp = c.post("/token", data=data)
    if bare and resp.status_code == 200:
        typer.echo(resp.json()["access_token"])
        return
    if bare:
        typer.echo(resp.text, err=True)
        raise typer.Exit(1)
    _show(resp)


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
