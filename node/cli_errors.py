"""How `fmar` reports a failure: one line with a code, a message and a hint (the trace only
with `fmar --verbose`), and an exit code that says what happened.

Exit codes (also in docs/operator.md):

    0  done; for a federated query: every node answered
    1  an unexpected error (a bug: run with --verbose and report the trace)
    2  bad input: an unknown option value, filter, group or query; missing credentials
    3  partial answer: some nodes answered, others timed out, refused or failed
    4  no node answered (every node timed out, refused or failed), or the node refused
    5  a service cannot be reached (the trust framework or the node)
"""

from __future__ import annotations

import ssl

import httpx
import typer

EXIT_OK, EXIT_BUG, EXIT_BAD_INPUT, EXIT_PARTIAL, EXIT_NO_ANSWER, EXIT_UNREACHABLE = range(6)

# Hints for the codes the node and the federation engine give for bad input.
HINTS = {
    "FED-IN-001": "codes are letters, digits, _ - or ., e.g. -f category=BESS -f dno=UKPN_EPN",
    "FED-IN-002": "capacities are numbers in kW, e.g. -f min_capacity=1000",
    "FED-IN-003": "limit is a whole number, e.g. -f limit=100",
    "SPARQL-001": "pass a query, or @file.rq",
    "SPARQL-002": "a query starts with SELECT, CONSTRUCT, ASK or DESCRIBE (after PREFIXes)",
    "SPARQL-003": "the federation answers queries only; records change through a node's API",
    "SPARQL-004": "leave out SERVICE: `fmar query` already asks every node",
    "SPARQL-012": "write SPARQL 1.1 only: no server-specific keywords or functions",
    "SPARQL-005": "narrow the query (LIMIT, filters) or raise --deadline",
    "FED-001": "the node did not answer in time: raise --deadline (seconds per node)",
    "FED-002": "the node cannot be reached: is it running, and its URL in the directory right?",
    "FED-010": "name the query's predicates as constants, or pass --mode distribute for a "
               "query each node can answer alone",
    "FED-012": "add a LIMIT, or narrow the WHERE clause, to describe at most 1,000 resources",
}


def hint(code: str) -> str:
    from node.query.aggregates import DIMENSIONS
    from node.query.filters import CODE_FILTERS

    if code == "FED-IN-004":
        names = [*CODE_FILTERS, "organisation", "min_capacity", "max_capacity", "limit"]
        return "filters are " + ", ".join(f"{n}=…" for n in names)
    if code == "FED-IN-005":
        return "group by up to 4 of " + ", ".join(DIMENSIONS) + ", e.g. --aggregate category,dno"
    return HINTS.get(code, "")


class CliError(Exception):
    def __init__(self, code: str, message: str, hint: str = "",
                 exit_code: int = EXIT_BAD_INPUT):
        super().__init__(message)
        self.code, self.message, self.hint, self.exit_code = code, message, hint, exit_code


def from_api_error(code: str, message: str, status: int) -> CliError:
    """A refusal with a stable code (from the node, or checked here before sending)."""
    exit_code = (EXIT_BAD_INPUT if status in (400, 413, 422)
                 else EXIT_UNREACHABLE if code == "FED-007"  # the trust directory
                 else EXIT_NO_ANSWER)
    return CliError(code, message, hint(code), exit_code)


def to_cli_error(exc: BaseException) -> CliError:
    from common.errors import DomainError
    from common.http_errors import ApiError, status_of
    from node.store import StoreError

    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, StoreError):
        return CliError("CLI-005", str(exc), "check --data-dir (FMAR_DATA_DIR)")
    if isinstance(exc, DomainError):
        return from_api_error(exc.code, exc.message,
                              exc.status if isinstance(exc, ApiError) else status_of(exc))
    if isinstance(exc, ssl.SSLError) or (isinstance(exc, httpx.ConnectError)
                                          and "CERTIFICATE_VERIFY_FAILED" in str(exc)):
        return CliError("CLI-003", f"TLS set-up failed: {exc}.",
                        "check --cert, --key (FMAR_CLIENT_CERT, FMAR_CLIENT_KEY) and "
                        "--ca-bundle (FMAR_CA_BUNDLE)")
    if isinstance(exc, httpx.TransportError):
        url = str(exc.request.url) if exc._request is not None else "the service"
        return CliError("CLI-002", f"Cannot reach {url} ({type(exc).__name__}).",
                        "is the service running, and are FMAR_TRUST_URL / the node URL "
                        "and FMAR_CA_BUNDLE right?", EXIT_UNREACHABLE)
    if isinstance(exc, httpx.HTTPStatusError):
        return CliError("CLI-002", f"{exc.request.url} answered {exc.response.status_code}.",
                        "check FMAR_TRUST_URL", EXIT_UNREACHABLE)
    if isinstance(exc, (FileNotFoundError, IsADirectoryError, PermissionError)):
        return CliError("CLI-003", f"Cannot read {exc.filename}: {exc.strerror}.",
                        "check the path")
    return CliError("CLI-000", f"Unexpected error: {type(exc).__name__}: {exc}",
                    "run `fmar --verbose …` for the trace and report it", EXIT_BUG)


def report(error: CliError) -> None:
    message = error.message.rstrip()
    line = f"fmar: error {error.code}: {message}" + ("" if message[-1:] in ".?!" else ".")
    if error.hint:
        line += f" Hint: {error.hint}" + ("" if error.hint[-1] in ".…)" else ".")
    typer.echo(line, err=True)
