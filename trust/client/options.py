"""The options of every `fmar` command that talks to the trust framework or the federation
as a client: one name per thing, each also read from the FMAR_* variable a member's env.sh
sets (the older --trust, --ca and --app still work)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

TrustUrl = Annotated[str | None, typer.Option("--trust-url", "--trust", envvar="FMAR_TRUST_URL",
                                              help="Trust framework URL.")]
CaBundle = Annotated[Path | None, typer.Option("--ca-bundle", "--ca", envvar="FMAR_CA_BUNDLE",
                                               help="Federation CA chain (PEM).")]
ClientId = Annotated[str | None, typer.Option("--client-id", "--app", envvar="FMAR_CLIENT_ID",
                                              help="Your application id (OAuth client_id).")]
ClientCert = Annotated[Path | None, typer.Option("--cert", envvar="FMAR_CLIENT_CERT",
                                                 help="Client certificate (PEM).")]
ClientKey = Annotated[Path | None, typer.Option("--key", envvar="FMAR_CLIENT_KEY",
                                                help="Its private key (PEM).")]
