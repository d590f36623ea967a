"""schemathesis hooks for tests/test_contract.py: how to send the SPARQL media type the
node's POST /sparql takes (loaded through SCHEMATHESIS_HOOKS)."""

import schemathesis


@schemathesis.serializer("application/sparql-query")
def sparql_query(ctx, value):  # type: ignore[no-untyped-def]
    return value.encode() if isinstance(value, str) else str(value).encode()
