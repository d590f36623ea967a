"""Federation: the per-node SPARQL endpoint, node-side aggregates, the federated query
engine (one engine behind the client library, `fmar query` and a node's `/federation`),
and discovery through the trust directory and the nodes' DCAT catalogues."""
