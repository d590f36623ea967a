"""The one test and demo harness: real processes on loopback, driven as participants would.

- `processes`: free ports, waiting for a server, stopping a process, `fmar` as a
  subprocess, and a static-token node (`fmar serve`) as its own process.
- `login`: a person's sign-in (authorization code + PKCE through PAR).
- `trust_service`: the trust framework initialised and served as its own process.
- `directory`: the trust framework's API as an organisation and its operator use it
  (members, applications, certificates, nodes, tokens).
- `federation`: a whole federation (trust framework and `fmar serve` nodes over TLS),
  kept in a folder and resumed; used by the federation tests, benchmarks and `make demo`.

Used by tests/, tests/bench/ and examples/federation_demo.py; not part of the product.
"""


class HarnessError(RuntimeError):
    """A step of the harness did not go as it must (a server did not start, the trust
    framework refused a registration, ...)."""
