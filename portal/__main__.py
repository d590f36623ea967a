"""`python -m portal [--host 127.0.0.1] [--port 8800]`: the portal, configured by the
FMAR_PORTAL_* variables (docs/portal.md)."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from portal.app import create_app
from portal.config import ConfigError, PortalSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m portal", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8800)
    args = parser.parse_args(argv)
    try:
        settings = PortalSettings.from_env()
    except ConfigError as exc:
        print(f"portal: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
