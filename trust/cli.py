"""`fmar` commands of the trust framework (trust, org, user, app, node, cert, token, login).

The commands that run the service import `trust.server` when they run, so that a node's
`fmar` (which adds these commands) starts without loading the trust framework's server.
"""

from __future__ import annotations

import getpass
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from trust.client.credentials import write_secret
from trust.client.options import CaBundle, TrustUrl

trust_app = typer.Typer(help="Run the trust framework (directory, CA, OAuth issuer).",
                        no_args_is_help=True)
org_app = typer.Typer(help="Organisations in the directory.", no_args_is_help=True)
user_app = typer.Typer(help="Users of an organisation.", no_args_is_help=True)
app_app = typer.Typer(help="Applications (OAuth clients) of an organisation.",
                      no_args_is_help=True)
node_app = typer.Typer(help="Nodes of an organisation.", no_args_is_help=True)
cert_app = typer.Typer(help="Certificates from the federation CA.", no_args_is_help=True)
keys_app = typer.Typer(help="The trust framework's keys: rotation, encryption at rest.",
                       no_args_is_help=True)
trust_app.add_typer(keys_app, name="keys")

Data = Annotated[Path | None, typer.Option("--data", envvar="FMAR_TRUST_DATA",
                                           help="Trust data directory [default: var/trust].")]
DatabaseUrl = Annotated[str | None, typer.Option(envvar="FMAR_TRUST_DATABASE_URL",
                                                 help="PostgreSQL URL; SQLite in --data if "
                                                 "omitted.")]
KekFile = Annotated[Path | None, typer.Option(
    "--kek-file", envvar="FMAR_TRUST_KEK_FILE",
    help="File with the key-encryption key of the signing and CA keys (made, 0600, by "
    "init if missing; keep it outside the data directory). FMAR_TRUST_KEK gives the key "
    "itself instead.")]


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
    kek_file: KekFile = None,
    export_root_keys: Annotated[Path | None, typer.Option(
        help="Move the three CA roots' keys (sealed with the KEK) to this directory (offline "
        "storage) once made: the service issues with the issuers' keys only.")] = None,
) -> None:
    """Create the CA (client, signing and server hierarchies), the token signing key, the
    operator and its first admin."""
    from trust.server.bootstrap import init
    from trust.server.config import TrustSettings

    password = admin_password or getpass.getpass("Operator admin password (10+ chars): ")
    settings = TrustSettings(data_dir=_data_dir(data), issuer=issuer, database_url=database_url,
                             kek=os.environ.get("FMAR_TRUST_KEK") or None, kek_file=kek_file)
    with _key_errors():
        state = init(settings, admin_email=admin_email, admin_password=password,
                     hosts=tuple(host or ("127.0.0.1", "localhost")))
    if export_root_keys:
        from trust.server.ca import export_root_keys as export

        state = {**state, "root_keys": [str(p) for p in export(settings.ca_dir,
                                                                 export_root_keys)]}
    typer.echo(json.dumps(state, indent=2))


ca_app = typer.Typer(help="The CA's hierarchies: offline roots, issuer regeneration.",
                     no_args_is_help=True)
trust_app.add_typer(ca_app, name="ca")


@ca_app.command("export-root-keys")
def ca_export_root_keys(
    to: Annotated[Path, typer.Option(help="Directory on offline storage.")],
    data: Data = None,
) -> None:
    """Move the roots' keys out of the data directory (they stay sealed with the KEK)."""
    from trust.server.ca import export_root_keys

    moved = export_root_keys(_data_dir(data) / "ca", to)
    typer.echo(json.dumps({"root_keys": [str(p) for p in moved]}))


@ca_app.command("new-issuer")
def ca_new_issuer(
    kind: Annotated[str, typer.Argument(help="client, signing or server")],
    root_key: Annotated[Path, typer.Option(help="The root's key, brought back from offline "
                                           "storage for this.")],
    data: Data = None,
) -> None:
    """Regenerate a hierarchy's issuer (new key, signed by the root); restart the service."""
    from trust.server.bootstrap import settings_for
    from trust.server.ca import KINDS, regenerate_issuer

    if kind not in KINDS:
        raise typer.BadParameter("client, signing or server")
    settings = settings_for(_data_dir(data))
    with _key_errors():
        hierarchy = regenerate_issuer(settings.ca_dir, kind, settings.key_encryption_key(),
                                      root_key)
    typer.echo(json.dumps({"kind": kind, "issuer_serial": format(hierarchy.issuer.serial_number,
                                                                 "x")}))


@contextmanager
def _key_errors() -> Iterator[None]:
    """A missing or wrong KEK ends the command with its message, not a traceback."""
    from trust.server.keystore import KeyStoreError

    try:
        yield
    except KeyStoreError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


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

    from common.tls import uvicorn_tls_options
    from trust.server.bootstrap import settings_for
    from trust.server.db import migrate
    from trust.server.service import create_app

    settings = settings_for(_data_dir(data), issuer, database_url)
    migrate(settings.db_url)
    tls = settings.data_dir / "tls"
    with _key_errors():
        app = create_app(settings)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                            **uvicorn_tls_options(tls / "server.pem", tls / "server.key",
                                                  settings.ca_dir / "chain.pem"))
    from trust.server.selftls import start_self_renewal

    start_self_renewal(app, tls / "server.pem", tls / "server.key")
    uvicorn.Server(config).run()


@keys_app.command("rotate")
def keys_rotate(
    which: Annotated[str, typer.Argument(help="signing (the token-signing key) or federation "
                                         "(the duplicate-detection key)")],
    overlap: Annotated[int | None, typer.Option(
        help="Seconds the old key keeps working [default: signing 660 (every token it "
        "signed has expired), federation 86400]; 0 withdraws it at once.")] = None,
    data: Data = None,
) -> None:
    """Start a new key; the old one keeps verifying (JWKS) or matching (duplicate hashes)
    until the overlap ends."""
    from sqlmodel import Session

    from trust.server import federation_key, keys
    from trust.server.bootstrap import settings_for
    from trust.server.db import make_engine

    settings = settings_for(_data_dir(data))
    if which == "federation":
        new = federation_key.rotate(settings, federation_key.DEFAULT_OVERLAP
                                    if overlap is None else overlap)
        typer.echo(json.dumps({"federation_key": new["id"]}))
        return
    if which != "signing":
        raise typer.BadParameter("signing or federation")
    engine = make_engine(settings.db_url)
    with _key_errors(), Session(engine) as session:
        row = keys.rotate(session, settings, keys.DEFAULT_OVERLAP if overlap is None else overlap)
        session.commit()
        typer.echo(json.dumps({"signing_key": row.kid}))
    engine.dispose()


@keys_app.command("encrypt")
def keys_encrypt(data: Data = None) -> None:
    """Encrypt, with the KEK, private keys stored in the clear by an older version (the CA
    keys and the token-signing keys); keys already encrypted are left alone."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from sqlmodel import Session, select

    from trust.server import keystore
    from trust.server.bootstrap import settings_for
    from trust.server.db import make_engine
    from trust.server.models import SigningKey

    settings = settings_for(_data_dir(data))
    with _key_errors():
        kek = settings.key_encryption_key()
    sealed = []
    for path in (*settings.ca_dir.glob("*.key"), *settings.ca_dir.glob("*/*.key")):
        if path.exists() and not path.read_bytes().startswith(keystore.ENCRYPTED_PEM):
            plain = load_pem_private_key(path.read_bytes(), None)
            write_secret(path, keystore.seal(plain, kek))
            sealed.append(path.name)
    engine = make_engine(settings.db_url)
    with Session(engine) as session:
        for row in session.exec(select(SigningKey)):
            if not row.private_pem.startswith((keystore.ENCRYPTED_PEM.decode(),
                                               keystore.EXTERNAL_PREFIX)):
                plain = load_pem_private_key(row.private_pem.encode(), None)
                row.private_pem = keystore.seal(plain, kek).decode()
                session.add(row)
                sealed.append(row.kid)
        session.commit()
    engine.dispose()
    typer.echo(json.dumps({"encrypted": sealed}))


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
    from common import http_client as http

    session = _load_session() if auth or not (trust and ca) else {}
    headers = {"Authorization": f"Bearer {session['access_token']}"} if auth else {}
    return http.client(ca_bundle=ca or session.get("ca_bundle"),
                       base_url=trust or session.get("trust", ""), headers=headers, timeout=30)


def _show(resp: httpx.Response, bare: bool = False) -> dict[str, Any]:
    """Print the answer as JSON (exit 1 on an error); `bare`: only the new record's id, for
    ID=$(fmar … --bare), the error still in full on standard error."""
    try:
        body = resp.json()
    except ValueError:
        body = {"status": resp.status_code, "text": resp.text}
    if bare and resp.status_code < 400:
        typer.echo(body["id"])
        return body
    typer.echo(json.dumps(body, indent=2), err=bare)
    if resp.status_code >= 400:
        raise typer.Exit(1)
    return body


Bare = Annotated[bool, typer.Option("--bare", help="Print only the new id, for "
                                    "ID=$(fmar … --bare).")]


def _save_login(trust: str, ca: Path, body: dict[str, Any]) -> None:
    from trust.server.keystore import write_secret

    write_secret(_session_file(), json.dumps({"trust": trust,
                                              "ca_bundle": str(Path(ca).resolve()),
                                              **body}).encode())
    typer.echo("Logged in.")


def _loopback_login(c: httpx.Client, cid: str, trust: str, ca: Path, open_browser: bool) -> None:
    """Authorization code + PKCE through PAR, the code coming back to a loopback listener."""
    import secrets
    import webbrowser
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from urllib.parse import parse_qs, urlencode, urlsplit

    from trust.server.grants import s256

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
    from common import http_client as http
    from trust.client.credentials import DEVICE_CODE

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
    trust: TrustUrl = None, ca: CaBundle = None, bare: Bare = False,
) -> None:
    """Apply to join (UC-01.2); the organisation waits for the operator's approval."""
    with _client(trust, ca, auth=not (trust and ca)) as c:
        _show(c.post("/api/orgs", json=json.loads(file.read_text())), bare)


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


@org_app.command("host")
def org_host(
    org_id: Annotated[str, typer.Argument(help="The organisation to be hosted (yours).")],
    host: Annotated[str, typer.Option(help="Organisation id of the host (a platform).")],
) -> None:
    """Ask another member's nodes to hold this organisation's records (its admin); in force
    once the host accepts (`fmar org host-accept`), at once when the operator asks."""
    with _client() as c:
        _show(c.post(f"/api/orgs/{org_id}/hosting", json={"host_org_id": host}))


@org_app.command("host-accept")
def org_host_accept(
    org_id: Annotated[str, typer.Argument(help="The organisation that asked to be hosted.")],
    host: Annotated[str, typer.Option(help="Organisation id of the host (yours).")],
) -> None:
    """Accept to hold another organisation's records on your nodes (the host's admin)."""
    with _client() as c:
        _show(c.post(f"/api/orgs/{org_id}/hosting/{host}/accept"))


@org_app.command("unhost")
def org_unhost(
    org_id: Annotated[str, typer.Argument(help="The hosted organisation.")],
    host: Annotated[str, typer.Option(help="Organisation id of the host.")],
) -> None:
    """End a hosting relation (either party's admin, or the operator); the host's nodes
    refuse the hosted organisation's writes within their cache TTL."""
    with _client() as c:
        _show(c.delete(f"/api/orgs/{org_id}/hosting/{host}"))


@org_app.command("hosted")
def org_hosted(host_org_id: str, trust: TrustUrl = None, ca: CaBundle = None) -> None:
    """The organisations whose records a member's nodes may hold (public)."""
    with _client(trust, ca, auth=False) as c:
        _show(c.get(f"/api/members/{host_org_id}/hosted"))


@org_app.command("delegate")
def org_delegate(
    org_id: Annotated[str, typer.Argument(help="The delegating organisation (yours).")],
    platform: Annotated[str, typer.Option(help="The platform's application id.")],
    scope: Annotated[list[str], typer.Option(help="A delegated scope (repeat).")],
    node: Annotated[list[str], typer.Option(help="A node URL it may act on (repeat).")],
    days: Annotated[int, typer.Option(help="Days until the delegation expires.")] = 90,
    bare: Bare = False,
) -> None:
    """Let a platform act for this organisation (its admin; UC-05.04): the scopes, on
    the nodes, for `days` days; `fmar org undelegate` ends it at once."""
    from datetime import UTC, datetime, timedelta

    expires = (datetime.now(UTC) + timedelta(days=days)).isoformat()
    with _client() as c:
        _show(c.post(f"/api/orgs/{org_id}/delegations", json={
            "platform_app_id": platform, "scopes": scope, "nodes": node,
            "expires_at": expires}), bare)


@org_app.command("delegations")
def org_delegations(org_id: str) -> None:
    """The delegations an organisation gave or received (its members, the operator)."""
    with _client() as c:
        _show(c.get(f"/api/orgs/{org_id}/delegations"))


@org_app.command("undelegate")
def org_undelegate(delegation_id: str) -> None:
    """Revoke a delegation (the delegating organisation's admin): its tokens are revoked
    and nodes refuse them within their revocation bound."""
    with _client() as c:
        _show(c.post(f"/api/delegations/{delegation_id}/revoke"))


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
    bare: Bare = False,
) -> None:
    """Register an application (an OAuth client) of an organisation; then get its client
    certificate with `fmar cert request --app`."""
    with _client() as c:
        _show(c.post(f"/api/orgs/{org}/apps", json={"name": name, "roles": role or []}), bare)


@node_app.command("add")
def node_add(
    org: Annotated[str, typer.Option(help="Organisation id.")],
    url: Annotated[str, typer.Option(help="Base URL of the node, https://...")],
    dataset_type: Annotated[list[str] | None, typer.Option(help="What it serves.")] = None,
    bare: Bare = False,
) -> None:
    """List an organisation's node in the directory (URL and what it serves); then get its
    server certificate with `fmar cert request --node`."""
    with _client() as c:
        _show(c.post(f"/api/orgs/{org}/nodes", json={"url": url,
                                                     "dataset_types": dataset_type or []}),
              bare)


@node_app.command("status")
def node_status(node_id: str, status: Annotated[str, typer.Argument(
        help="active (approve a pending node) or suspended")]) -> None:
    """The operator approves a pending node (only an active node gets certificates)."""
    with _client() as c:
        _show(c.post(f"/api/nodes/{node_id}/status", json={"status": status}))


@cert_app.command("request")
def cert_request(
    out: Annotated[Path, typer.Option(help="Directory for the key, certificate and chain.")],
    app: Annotated[str | None, typer.Option(help="Application id.")] = None,
    node: Annotated[str | None, typer.Option(help="Node id (an approved node).")] = None,
    kind: Annotated[str | None, typer.Option(
        help="client (default) or signing for applications; server (default), client "
        "(the node's own mTLS identity) or signing (its provenance records) for "
        "nodes")] = None,
    renew: Annotated[str | None, typer.Option(help="Serial of a certificate to renew.")] = None,
) -> None:
    """Make a P-256 key and CSR here (the key never leaves), get the certificate."""
    from trust.client.credentials import make_key_and_csr, write_secret

    if not (app or node or renew):
        raise typer.BadParameter("Give --app, --node or --renew.")
    kind = kind or ("server" if node and not renew else "client")
    key_pem, csr_pem = make_key_and_csr()
    path = (f"/api/certificates/{renew}/renew" if renew else
            f"/api/apps/{app}/certificates" if app else f"/api/nodes/{node}/certificates")
    with _client() as c:
        resp = c.post(path, json={"csr_pem": csr_pem.decode(), "kind": kind})
    if resp.status_code >= 400:
        _show(resp)
    body = resp.json()
    out.mkdir(parents=True, exist_ok=True)
    name = kind
    write_secret(out / f"{name}.key", key_pem)  # 0600 from the start
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
    from common import http_client as http

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
